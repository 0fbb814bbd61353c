"""The entries held for approval (``telegram.approve_entries``): one per symbol, answered
once, skipped at the deadline."""

from __future__ import annotations

from decimal import Decimal

from engine.approvals import EntryApprovals


def test_held_entries_are_answered_once_replaced_per_symbol_and_skipped_at_the_deadline():
    approvals = EntryApprovals(wait_ms=60_000)
    first, events = approvals.hold("BTC/USDT", Decimal(100), "s BUY", 1_000)
    assert events[0].entry_id == first.id and events[0].deadline_ms == 61_000
    newer, _ = approvals.hold("BTC/USDT", Decimal(120), "s BUY", 2_000)
    assert list(approvals.pending) == [newer.id], "a newer entry on the symbol replaces the waiting one"
    entry, why = approvals.take(first.id, 3_000)
    assert entry is None and "not waiting" in why
    eth, _ = approvals.hold("ETH/USDT", Decimal(50), "s BUY", 2_000)
    entry, why = approvals.take(newer.id, 62_000)
    assert entry == newer and why == ""
    assert approvals.take(newer.id, 62_000)[0] is None, "answered once"
    assert approvals.take(eth.id, 70_000) == (None, f"entry {eth.id} expired at its deadline: skipped")
    late, _ = approvals.hold("SOL/USDT", Decimal(10), "s BUY", 0)
    assert approvals.expire(59_999) == [] and [e.entry_id for e in approvals.expire(60_001)] == [late.id]
    assert approvals.pending == {}
