"""Each risk rule at, just below and just above its threshold; the breaker state machine."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import pytest

from engine.marks import Marks
from engine.models import Side
from engine.money import quote_raw as q
from engine.risk.base import HALT, REJECT, RESIZE, Proposal, RiskView
from engine.risk.breaker import BreakerState, CircuitBreaker
from engine.risk.consecutive_losses import MaxConsecutiveLosses
from engine.risk.daily_loss import DailyLossLimit
from engine.risk.drawdown import MaxDrawdown
from engine.risk.exposure import MaxGrossExposure
from engine.risk.limits import RiskLimits
from engine.risk.manager import RiskManager
from engine.risk.open_positions import MaxOpenPositions
from engine.risk.order_notional import MaxOrderNotional
from engine.risk.position_notional import MaxPositionNotional
from engine.risk.price_deviation import MaxPriceDeviation
from engine.risk.stale_data import StaleData
from engine.risk.trade_rate import MaxTradesPerWindow

EPS = Decimal("0.01")
HOUR = 3_600_000


def prop(notional="1000", price=100.0, ts=10 * HOUR, close_ms=10 * HOUR, symbol="BTC/USDT", entry=True):
    return Proposal("s", symbol, Side.BUY if entry else Side.SELL, entry, Decimal(notional), price, ts, close_ms)


def action(verdict):
    return None if verdict is None else verdict.action


@pytest.mark.parametrize("notional, expected", [("999.99", None), ("1000", None), ("1000.01", RESIZE)])
def test_max_order_notional(notional, expected):
    v = MaxOrderNotional(Decimal(1000)).check(prop(notional), RiskView())
    assert action(v) == expected
    if v:
        assert v.notional_quote == Decimal(1000) and v.value == 1000.01 and v.threshold == 1000


@pytest.mark.parametrize("held, expected, resized", [
    (1999.99, None, None), (2000.0, None, None), (2000.01, RESIZE, Decimal("999.99")), (3000.0, REJECT, None)])
def test_max_position_notional(held, expected, resized):
    view = RiskView(position_raw={"BTC/USDT": q(held)})
    v = MaxPositionNotional(Decimal(3000)).check(prop("1000"), view)
    assert action(v) == expected
    if resized is not None:
        assert v.notional_quote == resized


@pytest.mark.parametrize("price, expected", [(104.99, None), (105.0, None), (105.01, REJECT), (94.99, REJECT)])
def test_price_deviation_fat_finger_also_on_exits(price, expected):
    view = RiskView(marks=Marks({"BTC/USDT": 100.0}))
    rule = MaxPriceDeviation(5.0)
    assert action(rule.check(prop(price=price), view)) == expected
    assert rule.applies_to_exits


@pytest.mark.parametrize("age_ms, expected", [(2 * HOUR - 1, None), (2 * HOUR, None), (2 * HOUR + 1, REJECT)])
def test_stale_data(age_ms, expected):
    assert action(StaleData(2 * HOUR).check(prop(ts=10 * HOUR + age_ms), RiskView())) == expected


@pytest.mark.parametrize("entries, expected", [(2, None), (3, REJECT), (4, REJECT)])
def test_max_trades_per_window(entries, expected):
    now = 48 * HOUR
    times = deque(now - i * HOUR for i in range(1, entries + 1))
    times.appendleft(now - 25 * HOUR)  # outside the 24h window: never counts
    v = MaxTradesPerWindow(3, 24 * HOUR).check(prop(ts=now), RiskView(entry_times=times))
    assert action(v) == expected


@pytest.mark.parametrize("losses, expected", [(2, None), (3, HALT), (4, HALT)])
def test_max_consecutive_losses_halts(losses, expected):
    assert action(MaxConsecutiveLosses(3).on_state(RiskView(consecutive_losses=losses))) == expected


@pytest.mark.parametrize("equity, expected", [(9_501.0, None), (9_500.0, REJECT), (9_499.0, REJECT)])
def test_daily_loss_limit(equity, expected):
    view = RiskView(equity_raw=q(equity), day_start_raw=q(10_000))
    assert action(DailyLossLimit(5.0).check(prop(), view)) == expected


@pytest.mark.parametrize("equity, expected", [(8_001.0, None), (8_000.0, HALT), (7_999.0, HALT)])
def test_max_drawdown_halts(equity, expected):
    assert action(MaxDrawdown(20.0).on_state(RiskView(equity_raw=q(equity), peak_raw=q(10_000)))) == expected


@pytest.mark.parametrize("held, expected", [(4_000.0, None), (4_000.01, RESIZE), (5_000.0, REJECT)])
def test_max_gross_exposure(held, expected):
    view = RiskView(equity_raw=q(10_000), position_raw={"ETH/USDT": q(held)})
    v = MaxGrossExposure(50.0).check(prop("1000"), view)
    assert action(v) == expected
    if expected == RESIZE:
        assert float(v.notional_quote) == pytest.approx(999.99)


@pytest.mark.parametrize("open_symbols, symbol, expected", [
    (1, "BTC/USDT", None), (2, "BTC/USDT", REJECT), (2, "ETH/USDT", None), (3, "BTC/USDT", REJECT)])
def test_max_open_positions(open_symbols, symbol, expected):
    held = {s: q(100) for s in ["ETH/USDT", "SOL/USDT", "XRP/USDT"][:open_symbols]}
    assert action(MaxOpenPositions(2).check(prop(symbol=symbol), RiskView(position_raw=held))) == expected


def test_breaker_state_machine():
    b = CircuitBreaker()
    assert b.allows_entries
    assert b.pause("alice", 1).startswith("paused") and b.state is BreakerState.PAUSED and not b.allows_entries
    assert b.trip("max_drawdown: 21%", 2) and b.state is BreakerState.HALTED
    assert not b.trip("other", 3) and b.reason == "max_drawdown: 21%", "the first reason is kept"
    assert b.pause("alice", 4).startswith("not paused") and b.state is BreakerState.HALTED
    assert b.resume("alice", 5) == "resumed from halted (max_drawdown: 21%)" and b.allows_entries
    assert b.resume("alice", 6) == "already running"


def test_manager_blocks_entries_when_halted_but_lets_exits_through_and_resume_clears():
    risk = RiskManager(RiskLimits(max_drawdown_pct=10, max_price_deviation_pct=50).build(HOUR))
    assert risk.on_candle("BTC/USDT", q(100.0), q(10_000.0), 0) == []
    risk.marks.set("BTC/USDT", 90.0)  # the runner's part: the candle's close
    events = risk.on_candle("BTC/USDT", q(90.0), q(8_900.0), HOUR)
    assert [e.kind for e in events] == ["breaker_tripped"] and "drawdown 11.00%" in events[0].reason
    entry = risk.check(prop(price=90.0, ts=2 * HOUR, close_ms=2 * HOUR))
    assert not entry.approved and entry.verdicts[0].rule == "circuit_breaker"
    exit_ = risk.check(prop(price=90.0, ts=2 * HOUR, close_ms=2 * HOUR, entry=False))
    assert exit_.approved
    text, events = risk.operator("resume", "alice", 3 * HOUR)
    assert text.startswith("resumed from halted") and [e.kind for e in events] == ["breaker_changed"]
    assert risk.check(prop(price=90.0, ts=3 * HOUR, close_ms=3 * HOUR)).approved
    # the peak restarts at resume: the same equity does not re-trip at once
    assert risk.on_candle("BTC/USDT", q(90.0), q(8_900.0), 3 * HOUR) == []


def test_every_decision_is_an_event_with_rule_and_numbers():
    risk = RiskManager(RiskLimits(max_order_notional=Decimal(500)).build(HOUR))
    d = risk.check(prop("800", ts=HOUR, close_ms=HOUR))
    assert d.approved and d.notional_quote == Decimal(500)
    (e,) = d.events
    assert (e.kind, e.action, e.rule, e.value, e.threshold, e.approved_notional) == (
        "risk_decision", "resize", "max_order_notional", 800.0, 500.0, "500")
    ok = risk.check(prop("100", ts=HOUR, close_ms=HOUR))
    assert ok.events[0].action == "approve" and ok.events[0].rule == ""


def test_limits_are_validated():
    with pytest.raises(ValueError, match="max_drawdown_pct"):
        RiskLimits(max_drawdown_pct=0)
    with pytest.raises(ValueError, match="max_open_positions"):
        RiskLimits(max_open_positions=0)
    with pytest.raises(ValueError, match="max_drawdwn_pct"):
        RiskLimits(max_drawdwn_pct=5)


@pytest.mark.parametrize("held, expected", [(1_999.99 - 1000, None), (1_000.0, None), (1_000.01, RESIZE),
                                            (2_000.0, REJECT)])
def test_max_asset_concentration(held, expected):
    from engine.risk.concentration import MaxAssetConcentration

    view = RiskView(equity_raw=q(10_000), position_raw={"BTC/USDT": q(held), "ETH/USDT": q(5_000)})
    assert action(MaxAssetConcentration(20.0).check(prop("1000"), view)) == expected


@pytest.mark.parametrize("spread, expected", [(None, None), (9.99, None), (10.0, None), (10.01, REJECT)])
def test_max_spread(spread, expected):
    from engine.risk.market_state import MaxSpread

    view = RiskView(spread_bps={} if spread is None else {"BTC/USDT": spread})
    assert action(MaxSpread(10.0).check(prop(), view)) == expected


def test_market_closed():
    from engine.risk.market_state import MarketClosed

    assert MarketClosed().check(prop(), RiskView()) is None
    assert MarketClosed().check(prop(), RiskView(market_open={"BTC/USDT": True})) is None
    assert action(MarketClosed().check(prop(), RiskView(market_open={"BTC/USDT": False}))) == REJECT


def test_signal_sanity():
    from engine.models import Signal
    from engine.risk.signal_sanity import check_signal

    assert check_signal(None, False, None) is None
    assert check_signal(Signal.BUY, False, None) is None
    assert check_signal(float("nan"), False, None).reason == "signal is nan"
    assert "inf" in check_signal(float("inf"), False, None).reason
    assert "invalid signal 'buy'" in check_signal("buy", False, None).reason
    assert "contradictory" in check_signal((Signal.BUY, Signal.SELL), False, None).reason
    assert check_signal(Signal.SELL, False, Signal.BUY) is None, "a first SELL while flat is not a repeat"
    assert check_signal(Signal.BUY, True, Signal.SELL) is None, "nor a BUY after a SELL"
    assert "repeated BUY: position already open" in check_signal(Signal.BUY, True, Signal.BUY).reason
    assert check_signal(Signal.BUY, True, Signal.BUY, reported=True) is None, "reported once per streak"
    assert "repeated SELL: position already flat" in check_signal(Signal.SELL, False, Signal.SELL).reason
    assert check_signal(Signal.BUY, False, Signal.BUY) is None, "a repeat that acts (flat again) is fine"


@pytest.mark.parametrize("equity, expected", [(9_750.01, None), (9_750.0, REJECT), (9_749.99, REJECT)])
def test_daily_loss_limit_in_quote(equity, expected):
    view = RiskView(equity_raw=q(equity), day_start_raw=q(10_000))
    assert action(DailyLossLimit(quote=250.0).check(prop(), view)) == expected


def test_daily_loss_day_boundary_is_configurable():
    day = 86_400_000
    for hour, same_day in ((0, False), (8, True)):
        risk = RiskManager(RiskLimits(daily_loss_limit_pct=5, day_start_hour_utc=hour).build(HOUR),
                           day_start_hour_utc=hour)
        risk.on_candle("BTC/USDT", q(0.0), q(10_000.0), 3 * day + 23 * HOUR)  # 23:00 UTC
        risk.on_candle("BTC/USDT", q(0.0), q(9_400.0), 4 * day + 1 * HOUR)  # 01:00 UTC next calendar day
        decision = risk.check(prop(ts=4 * day + 2 * HOUR, close_ms=4 * day + 2 * HOUR))
        # with the day starting at 08:00 UTC, 23:00 and 01:00 are the same trading day: -6% blocks
        assert decision.approved is not same_day, hour


def test_snapshot_reports_limits_utilisation_and_breaker():
    risk = RiskManager(RiskLimits(max_drawdown_pct=10, max_open_positions=2).build(HOUR))
    risk.on_candle("BTC/USDT", q(3000.0), q(10_000.0), 0)
    risk.on_candle("BTC/USDT", q(2850.0), q(9_500.0), HOUR)
    snap = risk.snapshot()
    assert snap["breaker"]["state"] == "running"
    assert "max_drawdown 10.0%" in snap["rules"] and "max_open_positions 2" in snap["rules"]
    assert snap["drawdown_pct"] == pytest.approx(5.0) and snap["gross_exposure"] == pytest.approx(2_850.0)
    assert snap["open_positions"] == 1


def test_outcomes_are_types_that_read_as_the_words_the_store_and_people_see():
    from engine.decision import Decision, Outcome
    from engine.risk.base import Action

    assert Action.REJECT == "reject" and f"{Action.HALT}" == "halt"  # events and the store keep the words
    refused = Decision("BUY", Outcome.REJECTED, "circuit_breaker: breaker paused")
    assert refused.outcome is Outcome.REJECTED and refused.action == "rejected: circuit_breaker: breaker paused"
    assert Decision("SELL", Outcome.ORDERED, "filled", "qd-x-1").action == "filled"
    assert Decision("BUY", Outcome.WAITING, "for approval 3").action == "waiting: for approval 3"
