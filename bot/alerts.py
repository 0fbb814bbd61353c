"""Alerts as log lines (always), and their text for Telegram (bot/telegram/alerting.py)."""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_EVEN, Decimal

from engine.events import Event, EventKind
from engine.risk.base import RuleName
from engine.timeframes import iso_utc

log = logging.getLogger("quantd.alerts")
CENT = Decimal("0.01")


def format_event(event: Event) -> str | None:
    """A readable one-line text for an event, or None for events that are not alerts."""
    p = event.payload()
    if event.kind == EventKind.FILL:
        qty, price, fee = Decimal(p["qty"]), Decimal(p["price"]), Decimal(p["fee"])
        base, quote = p["symbol"].split("/")
        fee_asset = p.get("fee_asset") or quote
        return (f"FILL {p['side'].upper()} {qty.normalize():f} {base} @ {_price(price)} {quote} "
                f"(notional {_cents(qty * price)}, fee {fee.normalize():f} {fee_asset}) order {p['client_order_id']} "
                f"{p['status']}")
    if event.kind == EventKind.REJECTION:
        return f"REJECTED {p['side']} {p['symbol']} order {p['client_order_id']}: {p['reason']}"
    if event.kind == EventKind.ORDER_CANCELED:
        return f"CANCELED {p['symbol']} order {p['client_order_id']}: {p['reason']}"
    if event.kind == EventKind.BREAKER_TRIPPED:
        return f"CIRCUIT BREAKER HALTED at equity {p['equity']:,.2f}: {p['reason']}; no new entries until /resume"
    if event.kind == EventKind.BREAKER_CHANGED:
        return f"circuit breaker {p['state']}: {p['reason']}"
    if event.kind == EventKind.RISK_DECISION and p["action"] == "reject":
        return f"RISK REJECTED {p['side']} {p['symbol']} ({p['strategy']}): {p['rule']}: {p['reason']}"
    if event.kind == EventKind.UNPROTECTED_POSITION:
        return f"ALERT {p['reason']}"
    if event.kind == EventKind.PROTECTION_SET:
        return f"protection {p['symbol']}: stop {p['stop_price'] or 'none'}, take-profit {p['take_profit_price'] or 'none'}"
    if event.kind == EventKind.RECONCILIATION_DRIFT:
        return f"RECONCILIATION {p['issue']} {p['symbol']} {p['client_order_id']}: {p['action']} ({p['detail']})"
    if event.kind == EventKind.EXTERNAL_ORDER:
        return (f"EXTERNAL ORDER on {p['symbol']}: {p['side']} {p['amount']} @ {p['price']} (exchange id "
                f"{p['exchange_order_id']}, client id {p['client_order_id']}): not placed by quantd, {p['action']}")
    if event.kind == EventKind.STALE_DATA:
        return f"STALE DATA {p['symbol']}: {p['reason']}; no new entries until fresh candles arrive"
    if event.kind == EventKind.STALE_DATA_RECOVERED:
        return f"data fresh again for {p['symbol']} after {p['stale_secs']:.0f}s; entries allowed"
    if event.kind == EventKind.ENTRY_AWAITING_APPROVAL:
        return f"ENTRY WAITING for approval {p['entry_id']}: {p['intent']} on {p['symbol']} for {p['notional']}"
    if event.kind == EventKind.ENTRY_SKIPPED:
        return f"entry {p['entry_id']} on {p['symbol']} skipped: {p['reason']}"
    if event.kind == EventKind.PAIR_LOCKED:
        return f"PAIR LOCKED {p['symbol']} until {iso_utc(p['until_ms'])} by {p['rule']}: {p['reason']}"
    if event.kind == EventKind.BACKFILL:
        return (f"BACKFILL {p['symbol']} {p['timeframe']}: {p['candles']} candle(s) missed while quantd was down "
                f"({iso_utc(p['from_ms'])} to {iso_utc(p['to_ms'])}); processing them before trading on fresh candles")
    if event.kind == EventKind.LIQUIDATION_WARNING:
        qty = Decimal(p["qty"])
        return (f"LIQUIDATION NEAR {p['symbol']} {'long' if qty > 0 else 'short'} {abs(qty).normalize():f}: close "
                f"{Decimal(p['mark']).normalize():f} is {p['distance_pct']}% from the liquidation price "
                f"{Decimal(p['liquidation_price']).normalize():f}")
    if event.kind == EventKind.FUNDING:
        how = (f"rate {p['rate']} on {Decimal(p['qty']).normalize():f} at {Decimal(p['mark']).normalize():f}"
               if p["rate"] else f"booked by the exchange on {Decimal(p['qty']).normalize():f}")
        return f"funding {p['symbol']}: paid {Decimal(p['amount']).normalize():f} ({how})"
    if event.kind == EventKind.STARTUP:
        return f"quantd started in {p['mode']} mode" + (" (resumed from the store)" if p["resumed"] else "")
    if event.kind == EventKind.SHUTDOWN:
        return f"quantd stopped: {p['reason']}"
    return None


def _cents(x: Decimal) -> str:
    """``x`` to 2 decimals, half-even, with thousands separators. The rounding is explicit: the
    same event must give the same text in any thread, whatever its decimal context (the
    restart compares texts to find alerts an interrupted run never queued)."""
    return f"{x.quantize(CENT, rounding=ROUND_HALF_EVEN):,f}"


def _price(x: Decimal) -> str:
    """A price: :func:`_cents` from 1,000 up (``19,188.00``); below, six significant digits
    with at least two decimals (``1.0793``, ``590.12``, ``0.50``), so a sub-dollar market
    keeps its ticks. Half-even, whatever the thread's decimal context."""
    if not x or abs(x) >= 1000:
        return _cents(x)
    q = x.quantize(Decimal(1).scaleb(min(-2, x.adjusted() - 5)), rounding=ROUND_HALF_EVEN)
    if abs(q) >= 1000:  # rounded up to 1,000
        return _cents(q)
    whole, frac = f"{q:f}".split(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


_LOUD = frozenset({EventKind.REJECTION, EventKind.BREAKER_TRIPPED, EventKind.UNPROTECTED_POSITION,
                   EventKind.LIQUIDATION_WARNING,
                   EventKind.RECONCILIATION_DRIFT, EventKind.EXTERNAL_ORDER, EventKind.STALE_DATA, EventKind.BACKFILL})
"""Alerts logged at WARNING (the rest at INFO)."""


def log_alert(event: Event) -> None:
    """Event-bus handler: log alerts at INFO (rejections at WARNING)."""
    text = format_event(event)
    if text:
        loud = event.kind in _LOUD or (
            event.kind == EventKind.RISK_DECISION and event.payload()["rule"] != RuleName.SIGNAL_SANITY)
        p = event.payload()
        log.log(logging.WARNING if loud else logging.INFO, text,
                extra={"event": event.kind, "symbol": p.get("symbol"), "client_order_id": p.get("client_order_id")})
