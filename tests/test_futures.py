"""Shorts and USD-M perpetual futures in the backtester (issue 23, ADR 0017): the account's
arithmetic, the liquidation price by hand, a long/short reference on real futures candles with
real funding rates, and spot's refusal of shorts.

Data: ``tests/fixtures/futures`` holds real Binance USD-M XRP/USDT:USDT 5m candles
(2021-11-15 to 2021-11-21) and the real 8-hourly funding rates of the same market, from
freqtrade's test data (GPL-3.0, see the folder's README).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.backtest.engine import BacktestConfig, run_backtest
from engine.backtest.parity import compare
from engine.backtest.vectorized import run_vectorized
from engine.data import load_ohlcv
from engine.errors import ConfigError, DataError, OrderError
from engine.futures import FundingRates, FuturesAccount, LeverageTiers, liquidation_price
from engine.models import Candle, Fill, Instrument, Side, Signal
from engine.money import QUOTE_ONE, price_from_float, quote_decimal
from engine.portfolio import Portfolio
from engine.risk.limits import RiskLimits
from engine.strategy import create
from engine.strategy.base import Strategy
from engine.strategy.builtin._vector import as_signal
from tests.reference import sma_cross_long_short_trades

FUTURES = Path(__file__).parent / "fixtures" / "futures"
CANDLES = FUTURES / "XRP_USDT_USDT-5m-futures.csv.gz"
FUNDING = FUTURES / "XRP_USDT_USDT-8h-funding_rate.csv"
D = Decimal


def fill(side: Side, qty: str, price: str, fee: str = "0", n: int = 1, ts: int = 1000) -> Fill:
    return Fill(f"t{n}", f"c{n}", "XRP/USDT", side, D(qty), D(price), D(fee), ts)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return pd.read_csv(CANDLES)


def test_liquidation_price_by_hand():
    # Binance's isolated formula with one position and the first maintenance tier (mmr 0.4%, cum 0).
    # A 10x long of 1 BTC at 10,000 holds 1,000 of margin. The margin balance at P is
    # 1,000 + (P - 10,000); maintenance is 0.004 x P. Equal at P = 9,000 / 0.996 = 9,036.1445...
    long = liquidation_price(D(1), D(10_000), D(1_000), D("0.004"))
    assert abs(long - D(9000) / D("0.996")) < D("1e-20")
    assert round(long, 2) == D("9036.14")
    # The short: 1,000 - (P - 10,000) = 0.004 x P  ->  P = 11,000 / 1.004 = 10,956.175...
    short = liquidation_price(D(-1), D(10_000), D(1_000), D("0.004"))
    assert abs(short - D(11_000) / D("1.004")) < D("1e-20")
    assert round(short, 2) == D("10956.18")
    # a 1x long is covered down to (almost) zero; a maintenance amount moves the price the other way
    assert liquidation_price(D(1), D(10_000), D(10_000), D("0.004")) == 0
    assert liquidation_price(D(-1), D(10_000), D(1_000), D("0.004"), D(50)) > short
    with pytest.raises(ValueError):
        liquidation_price(D(0), D(1), D(1), D("0.004"))


def test_short_round_trip_books_margin_pnl_fee_and_funding():
    acc = FuturesAccount(D(1000), leverage=D(5))
    pos = acc.apply(fill(Side.SELL, "100", "2", fee="0.2"))  # short 100 at 2: notional 200, margin 40
    assert pos.qty == D(-100) and pos.avg_price == D(2)
    assert acc.margin["XRP/USDT"] == D(40) and acc.wallet == D("999.8") and acc.cash == D("959.8")
    # a positive rate: the short receives qty x mark x rate = 100 x 2.5 x 0.001 = 0.25
    assert acc.apply_funding("XRP/USDT", D("0.001"), D("2.5")) == D("-0.25")
    assert acc.wallet == D("1000.05") and acc.funding_by_symbol["XRP/USDT"] == D("-0.25")
    # equity: wallet + qty x (mark - entry) = 1000.05 - 100 x 0.5 = 950.05, from the fixed-point image
    assert quote_decimal(acc.equity_raw({"XRP/USDT": price_from_float(2.5)})) == D("950.05")
    pos = acc.apply(fill(Side.BUY, "100", "1.5", fee="0.15", n=2))  # cover at 1.5: +50
    assert pos.qty == 0 and pos.realized_pnl == D(50) and not acc.margin
    assert acc.wallet == D("1049.90") and acc.cash == acc.wallet and acc.fees_paid == D("0.35")
    assert acc.cash_raw == acc.wallet * QUOTE_ONE


def test_an_order_may_not_cross_zero_and_margin_must_fit():
    acc = FuturesAccount(D(100), leverage=D(2))
    acc.apply(fill(Side.BUY, "10", "10"))  # margin 50
    with pytest.raises(OrderError, match="may not cross zero"):
        acc.apply(fill(Side.SELL, "11", "10", n=2))
    with pytest.raises(OrderError, match="margin"):
        acc.apply(fill(Side.BUY, "11", "10", n=3))  # another 55 of margin, 50 available
    assert acc.position("XRP/USDT").qty == D(10) and acc.cash == D(50)  # nothing changed
    spot = Portfolio(D(100))
    with pytest.raises(OrderError):
        spot.apply(fill(Side.SELL, "1", "10"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 500), st.integers(50, 300)),
                min_size=1, max_size=12),
       st.integers(50, 300))
def test_equity_image_is_wallet_plus_unrealized(steps, mark_cents):
    """Whatever fills are booked, the fixed-point equity equals wallet + qty x (mark - entry),
    computed from the ledger in Decimal (within the Decimal context's 28 digits)."""
    acc = FuturesAccount(D(10_000), leverage=D(3))
    for n, (side, qty, cents) in enumerate(steps):
        try:
            acc.apply(fill(side, str(qty), str(D(cents) / 100), fee=str(D(qty) * cents / 100_000), n=n))
        except OrderError:
            continue
    mark = D(mark_cents) / 100
    pos = acc.position("XRP/USDT")
    want = acc.wallet + pos.qty * (mark - pos.avg_price)
    got = quote_decimal(acc.equity_raw({"XRP/USDT": price_from_float(float(mark))}))
    assert abs(got - want) <= D("1e-15")


def test_funding_file_is_read_and_a_bad_row_is_named(tmp_path):
    rates = FundingRates.read_csv(FUNDING)
    assert len(rates.times) == 91 and rates.rates[0] == D("0.0001")
    assert rates.due(1637193600000, 1637193600000 + 300_000) == D("0.0001")  # 00:00:00.017 is in the 00:00 candle
    assert rates.due(1637193600000 + 300_000, 1637193600000 + 600_000) is None
    bad = tmp_path / "f.csv"
    bad.write_text("timestamp,funding_rate\n1,0.0001\n2,abc\n")
    with pytest.raises(DataError, match="line 3"):
        FundingRates.read_csv(bad)
    with pytest.raises(DataError, match="cannot read"):
        FundingRates.read_csv(tmp_path / "missing.csv")


def test_entries_too_close_to_their_liquidation_price_are_refused(candles):
    """min_liquidation_distance_pct 2: at 50x a long's liquidation price is (1/50 - 0.004) /
    (1 - 0.004) = 1.606% below its entry, a short's (1/50 - 0.004) / 1.004 = 1.594% above: every
    entry is refused. At 20x (4.62%) they pass."""
    limits = RiskLimits(min_liquidation_distance_pct=2)
    strategy = {"fast": 10, "slow": 30, "allow_short": True}
    at50 = run_backtest(candles, create("sma_cross", strategy),
                        BacktestConfig(symbol="XRP/USDT", timeframe="5m", market="futures", leverage=D(50),
                                       stake="100", limits=limits))
    assert at50.trades == [] and at50.rejections["min_liquidation_distance"] > 80
    refusal = next(e for e in at50.events if getattr(e, "rule", "") == "min_liquidation_distance")
    assert "1.61% from the entry price" in refusal.reason or "1.59% from the entry price" in refusal.reason
    at20 = run_backtest(candles, create("sma_cross", strategy),
                        BacktestConfig(symbol="XRP/USDT", timeframe="5m", market="futures", leverage=D(20),
                                       stake="100", limits=limits))
    assert len(at20.trades) > 80 and not at20.rejections


def test_long_short_backtest_matches_an_independent_reference(candles):
    """sma_cross with allow_short, 3x, a 100 USDT stake of margin, 0.05% fee and the real funding
    rates, on real futures candles: the engine's trades and final wallet equal the pandas
    reference's to 1e-9 relative."""
    tf = 300_000
    cfg = BacktestConfig(symbol="XRP/USDT", timeframe="5m", cash=D(1000), fee_rate=D("0.0005"), stake="100",
                         market="futures", leverage=D(3), funding=FundingRates.read_csv(FUNDING))
    result = run_backtest(candles, create("sma_cross", {"fast": 10, "slow": 30, "allow_short": True}), cfg)
    ref, wallet = sma_cross_long_short_trades(candles, 10, 30, 1000.0, 0.0005, 3.0, 100.0,
                                              pd.read_csv(FUNDING), tf)
    trades = result.trades
    assert len(trades) == len(ref) > 40
    assert sum(t.short for t in trades) == int(ref["short"].sum()) > 20
    assert sum(1 for t in trades if t.funding) >= 3  # funding was charged inside some trades
    for t, r in zip(trades, ref.itertuples()):
        assert (t.entry_ts_ms, t.exit_ts_ms, t.short) == (r.entry_ts, r.exit_ts, r.short)
        for got, want in ((t.entry_price, r.entry_price), (t.exit_price, r.exit_price), (t.qty, r.qty),
                          (t.fees, r.fees), (t.funding, r.funding)):
            assert float(got) == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert float(t.pnl) == pytest.approx(r.pnl, rel=1e-9, abs=1e-9)
    assert result.equity[-1] == pytest.approx(wallet, rel=1e-9)
    assert trades[-1].exit_reason == "end_of_data"


class _Script(Strategy):
    """Emits the scripted signal at each candle index (None past the end)."""

    name = "script"

    def __init__(self, script: dict[int, Signal]):
        super().__init__(Strategy.Params())
        self.script, self.i = script, -1

    def on_candle(self, candle, ctx):
        self.i += 1
        return self.script.get(self.i)


def test_a_leveraged_long_is_liquidated_at_its_price(candles):
    """20x long from the first candle: XRP falls about 5% and the position is closed at the
    liquidation price computed by hand from the entry fill, with the fee, on the candle whose
    low reached it; the wallet keeps what the margin had left."""
    cfg = BacktestConfig(symbol="XRP/USDT", timeframe="5m", cash=D(1000), fee_rate=D("0.0005"), stake="100",
                         market="futures", leverage=D(20))
    result = run_backtest(candles, _Script({0: Signal.BUY}), cfg)
    (trade,) = result.trades
    entry, qty = trade.entry_price, trade.qty
    assert entry == D(repr(float(candles.open[1])))
    assert qty == Instrument("XRP/USDT").round_qty(D(2000) / entry)  # notional: 100 of margin x 20
    margin = qty * entry / 20
    lp = (margin - qty * entry) / (qty * (D("0.004") - 1))  # by hand, cum 0
    assert trade.exit_price == lp and trade.exit_reason.startswith("liquidation: low")
    hit = candles.index[(candles.low <= float(lp)) & (candles.index > 1)][0]
    assert trade.exit_ts_ms == candles.timestamp[hit]
    assert trade.exit_fee == qty * lp * D("0.0005")
    assert trade.pnl == qty * (lp - entry) - trade.fees
    assert float(result.equity[-1]) == pytest.approx(float(1000 + trade.pnl), rel=1e-12)


def _spot_runner():
    from engine.backtest.trades import TradeLog
    from engine.core import MarketSpec, build_core
    from engine.simulator import FillModel, SimulatedExchange

    venue = SimulatedExchange({"XRP/USDT": Instrument("XRP/USDT")}, FillModel())
    core = build_core([MarketSpec(_Script({}), "XRP/USDT", "1m")], venue, TradeLog(), Portfolio(D(100)), RiskLimits(),
                      D("0.001"))
    return core.runners[0]


def test_spot_refuses_shorts(candles):
    with pytest.raises(ConfigError, match="market futures"):
        run_backtest(candles, create("sma_cross", {"allow_short": True}), BacktestConfig(symbol="XRP/USDT",
                                                                                         timeframe="5m"))
    result = run_backtest(candles, _Script({40: Signal.ENTER_SHORT}),
                          BacktestConfig(symbol="XRP/USDT", timeframe="5m"))
    assert result.trades == []
    runner = _spot_runner()
    runner.on_candle(Candle(0, 1.0, 1.0, 1.0, 1.0, 1.0))  # a first candle: nothing happens
    runner.strategy.script = {1: Signal.ENTER_SHORT}
    decision = runner.on_candle(Candle(60_000, 1.0, 1.0, 1.0, 1.0, 1.0))
    assert decision.outcome == "rejected" and "spot is long-only" in decision.detail
    with pytest.raises(ConfigError, match="futures only"):
        BacktestConfig(leverage=D(2))
    with pytest.raises(ConfigError, match="stop_on_exchange"):
        BacktestConfig(market="futures", limits=RiskLimits(stop_loss_pct=5, stop_on_exchange=True))


def _kind(t) -> str:
    return "end" if t.exit_reason == "end_of_data" else "liquidation" if t.exit_reason.startswith("liquidation") \
        else "signal"


def assert_same_futures_run(event, vector) -> None:
    """The same round trips (candles, side, how they ended), prices, quantities, fees, funding
    and pnl to 1e-9 relative, and the same equity curve."""
    assert [(t.entry_ts_ms, t.exit_ts_ms, t.short, _kind(t)) for t in event.trades] == \
        [(t.entry_ts_ms, t.exit_ts_ms, t.short, _kind(t)) for t in vector.trades]
    for attr in ("entry_price", "exit_price", "qty", "entry_fee", "exit_fee", "funding", "pnl"):
        a = np.array([float(getattr(t, attr)) for t in event.trades])
        b = np.array([float(getattr(t, attr)) for t in vector.trades])
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9, err_msg=attr)
    np.testing.assert_allclose(vector.equity, event.equity, rtol=1e-9)
    assert vector.metrics.exposure_pct == event.metrics.exposure_pct


class _Codes(Strategy):
    """Replays vectorised codes (+1 BUY, -1 SELL, +2 ENTER_SHORT, -2 EXIT_SHORT) in both forms."""

    name = "codes"

    def __init__(self, codes: np.ndarray):
        super().__init__(Strategy.Params())
        self.codes, self.i = codes, -1

    def on_candle(self, candle, ctx):
        self.i += 1
        return as_signal(self.codes[self.i])

    def signals(self, df) -> np.ndarray:
        return self.codes


@pytest.mark.parametrize("leverage, stake, slippage", [("3", "100", "0"), ("50", "30%", "0"), ("1", "all", "5")])
def test_long_short_parity_on_real_futures_candles(candles, leverage, stake, slippage):
    """sma_cross with allow_short: vectorised = event-driven, trade for trade, with funding; at
    50x some trades end liquidated (the case the vectorised window search must find)."""
    cfg = BacktestConfig(symbol="XRP/USDT", timeframe="5m", cash=D(1000), fee_rate=D("0.0005"), stake=stake,
                         slippage_bps=D(slippage), market="futures", leverage=D(leverage),
                         funding=FundingRates.read_csv(FUNDING))
    row = compare(candles, lambda: create("sma_cross", {"allow_short": True}), cfg, CANDLES.name)
    assert row.ok and row.event_trades > 80, row
    event = run_backtest(candles, create("sma_cross", {"allow_short": True}), cfg)
    vector = run_vectorized(candles, create("sma_cross", {"allow_short": True}), cfg)
    assert_same_futures_run(event, vector)
    if leverage == "50":
        assert sum(_kind(t) == "liquidation" for t in event.trades) >= 3


def test_every_crossover_with_shorts_has_full_parity_on_btc_1h(data_dir):
    """The real spot BTC/USDT 1h file stands in for the perpetual's price here (no funding): the
    crossover built-ins with allow_short, long and short, at 3x. (At 5x and more macd_trend
    nearly empties the account and its positions shrink to a few 1e-12 BTC steps, where the
    engine's rounding to the step, FINEST_STEP, is above 1e-9 of the quantity.)"""
    df, _ = load_ohlcv(data_dir / "binance" / "BTC_USDT-1h.csv.gz")
    cfg = BacktestConfig(symbol="BTC/USDT", timeframe="1h", stake="750", market="futures", leverage=D(3))
    for name in ("sma_cross", "ema_cross", "macd_trend"):
        row = compare(df, lambda name=name: create(name, {"allow_short": True}), cfg, "BTC_USDT-1h")
        assert row.ok and row.event_trades > 100, row


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(st.sampled_from([1, -1, 2, -2, 0, 0, 0, 0]), min_size=2, max_size=150),
       start=st.integers(0, 1850), stake=st.sampled_from(["all", "90", "25%"]),
       leverage=st.sampled_from(["1", "7", "60"]))
def test_any_long_short_signal_stream_gives_the_same_trades(candles, script, start, stake, leverage):
    """Reversals both ways, signals that fit no position, repeats, signals on the last candle,
    liquidations and funding (the window 2021-11-18..21 has it)."""
    df = candles.iloc[start:start + len(script)].reset_index(drop=True)
    codes = np.array(script, dtype=np.int8)
    cfg = BacktestConfig(symbol="XRP/USDT", timeframe="5m", cash=D(1000), fee_rate=D("0.0005"), stake=stake,
                         slippage_bps=D(1), market="futures", leverage=D(leverage),
                         funding=FundingRates.read_csv(FUNDING))
    assert_same_futures_run(run_backtest(df, _Codes(codes), cfg), run_vectorized(df, _Codes(codes), cfg))


def test_a_short_has_mirrored_stop_and_take_profit(candles):
    """stop_loss_pct 1 and take_profit_pct 2 on futures: a short's stop is 1% above its entry and
    is reached by a candle's high, its take-profit 2% below and reached by a low; either exits
    at the next open, and no candle held before it had reached a level."""
    cfg = BacktestConfig(symbol="XRP/USDT", timeframe="5m", cash=D(1000), stake="100", market="futures",
                         leverage=D(3), limits=RiskLimits(stop_loss_pct=1, take_profit_pct=2))
    trades = run_backtest(candles, create("sma_cross", {"fast": 10, "slow": 30, "allow_short": True}), cfg).trades
    index = {int(ts): i for i, ts in enumerate(candles.timestamp)}
    hi, lo = candles.high.to_numpy(), candles.low.to_numpy()
    seen = {"stop_loss": 0, "take_profit": 0}
    for t in trades:
        if not t.short or t.exit_reason.split(":")[0] not in seen:
            continue
        e, x = index[t.entry_ts_ms], index[t.exit_ts_ms]
        stop, tp = float(t.entry_price) * 1.01, float(t.entry_price) * 0.98
        reason = t.exit_reason.split(":")[0]
        seen[reason] += 1
        assert (hi[x - 1] >= stop) if reason == "stop_loss" else (lo[x - 1] <= tp), t
        assert not ((hi[e:x - 1] >= stop) | (lo[e:x - 1] <= tp)).any(), t
    assert seen["stop_loss"] >= 3 and seen["take_profit"] >= 1, seen


def test_a_shorts_trailing_stop_moves_down_only():
    from engine.risk.protection import Protection, ProtectionPolicy

    policy = ProtectionPolicy(stop_loss_pct=2, trailing_stop_pct=1)
    prot = policy.levels(D(100), None, short=True)
    assert prot == Protection(D(102), None, True)
    lower = policy.trailed(prot, Candle(0, 99, 99.5, 98, 99, 1))  # low 98 -> 98 x 1.01 = 98.98
    assert lower == Protection(D("98.98"), None, True)
    assert policy.trailed(lower, Candle(0, 99, 100, 99, 99.5, 1)) is None  # a higher low does not raise it
    assert lower.triggered(Candle(0, 98.5, 99.0, 98.2, 98.9, 1)) == "stop_loss: high 99.0 reached stop 98.98"


def test_the_cli_runs_futures_backtests_and_their_parity(capsys, tmp_path):
    """``quantd backtest --market futures`` (event-driven and --vectorized give the same summary)
    and ``quantd validate --market futures`` at 100%; a bad funding file is named."""
    import json

    from bot.cli import main as cli

    args = ["--data", str(CANDLES), "--symbol", "XRP/USDT", "--market", "futures", "--leverage", "50",
            "--stake", "30%", "--cash", "1000", "--fee", "0.0005", "--param", "allow_short=true",
            "--funding", str(FUNDING)]
    assert cli(["backtest", *args, "--json", "--quiet", "--trades-out", str(tmp_path / "t.csv")]) == 0
    event = json.loads(capsys.readouterr().out)
    assert cli(["backtest", *args, "--json", "--quiet", "--vectorized"]) == 0
    vector = json.loads(capsys.readouterr().out)
    assert event["trades"] == vector["trades"] == 81 and event["short_trades"] == 40 and event["liquidations"] == 5
    assert event["final_equity_quote"] == pytest.approx(vector["final_equity_quote"], rel=1e-9)
    assert event["funding_paid_quote"] == pytest.approx(vector["funding_paid_quote"], rel=1e-9)
    # returns are on the margin: a 50x liquidation loses most of it (on the notional it is -1.6%)
    liquidation = next(r for r in event["by_exit_reason"] if r["exit_reason"] == "liquidation")
    assert -100 < liquidation["mean_return_pct"] < -50 and event["worst_trade_pct"] < -50
    header = (tmp_path / "t.csv").read_text().splitlines()[0]
    assert header.endswith(",symbol,side,funding")
    assert cli(["validate", "--data", str(CANDLES), "--strategy", "sma_cross", "--param", "allow_short=true",
                "--market", "futures", "--leverage", "50", "--stake", "30%", "--funding", str(FUNDING),
                "--quiet"]) == 0
    assert "| 81 / 81 | 100.00% |" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,funding_rate\n1637193600017,0.0001\nnoon,0.0001\n")
    assert cli(["backtest", *args[:-1], str(bad), "--quiet"]) == 2
    assert "line 3" in capsys.readouterr().err


def test_risk_sees_a_shorts_exposure_and_a_halt_flattens_it_by_buying_back(candles):
    """A short counts its absolute value: with max_gross_exposure_pct 150 at 3x, an entry of
    300% of equity is resized to the 150% left. And a drawdown halt with flatten_on_halt closes
    the open short with a buy (at the same pace as a long's flatten)."""
    cfg = BacktestConfig(symbol="XRP/USDT", timeframe="5m", cash=D(1000), stake="all", market="futures",
                         leverage=D(3), limits=RiskLimits(max_gross_exposure_pct=150))
    trades = run_backtest(candles, _Script({40: Signal.ENTER_SHORT}), cfg).trades
    (short,) = trades
    assert short.short and float(short.qty * short.entry_price) == pytest.approx(1500, rel=2e-3)
    cfg = BacktestConfig(symbol="XRP/USDT", timeframe="5m", cash=D(1000), stake="100", market="futures",
                         leverage=D(10), limits=RiskLimits(max_drawdown_pct=1, flatten_on_halt=True))
    result = run_backtest(candles, _Script({40: Signal.ENTER_SHORT}), cfg)
    (trip,) = result.breaker_trips
    (short,) = result.trades
    assert short.short and short.exit_reason.startswith("flatten") and short.exit_ts_ms > trip.ts_ms
    # halted at the close of candle t; the next candle's decision buys back, filled at the open after it
    assert short.exit_ts_ms == trip.ts_ms + 2 * 300_000


def test_a_futures_backtest_from_telegram(tmp_path):
    """/backtest sma_cross XRP/USDT 5m market=futures leverage=3 allow_short=true: the request
    parses, runs on the real futures file and its table says futures and counts the shorts."""
    import shutil

    from bot.telegram.backtest_job import UsageError, parse_request, run_request

    shutil.copy(CANDLES, tmp_path / "XRP_USDT-5m.csv.gz")
    req = parse_request(["sma_cross", "xrp/usdt", "5m", "market=futures", "leverage=3", "allow_short=true",
                         "stake=100", "slippage_bps=0"])
    assert (req.market, req.leverage, req.params) == ("futures", D(3), {"allow_short": "true"})
    assert req.describe() == "sma_cross XRP/USDT 5m futures 3x allow_short=true"
    out = run_request(req, tmp_path)
    assert out.n_trades == 83 and "perpetual futures, 3x" in out.table
    assert "short trades" in out.table and b",short," in out.csv
    for bad, why in (("market=margin", "spot or futures"), ("leverage=0.5", "from 1")):
        with pytest.raises(UsageError, match=why):
            parse_request(["sma_cross", "XRP/USDT", "5m", bad])
    with pytest.raises(UsageError, match="allow_short needs market futures"):
        run_request(parse_request(["sma_cross", "XRP/USDT", "5m", "allow_short=true"]), tmp_path)


TIERS = FUTURES / "binance_leverage_tiers.json"


def test_leverage_tiers_are_read_from_a_ccxt_capture_and_pick_by_notional(tmp_path):
    """The real Binance tiers (ccxt fetch_leverage_tiers, captured by freqtrade): the maintenance
    amount built tier by tier equals Binance's own ``cum`` of every tier."""
    import json

    raw = json.loads(TIERS.read_text())
    for symbol in ("BTC/USDT:USDT", "XRP/USDT:USDT"):
        tiers = LeverageTiers.read_json(TIERS, symbol.split(":")[0])
        assert [t.amount for t in tiers.tiers] == [D(r["info"]["cum"]) for r in raw[symbol]]
    xrp = LeverageTiers.read_json(TIERS, "XRP/USDT")
    assert xrp.at(D(0)).rate == D("0.005") and xrp.at(D(10_000)).rate == D("0.005")  # at the cap: still tier 1
    assert xrp.at(D("10000.01")) == (D(10_000), D(20_000), D("0.0065"), D(15), D(50))
    assert xrp.at(D(10) ** 12).rate == D("0.5")  # above the last cap: the last tier
    with pytest.raises(DataError, match="no leverage tiers for DOGE/USDT"):
        LeverageTiers.read_json(TIERS, "DOGE/USDT")
    (tmp_path / "t.json").write_text('{"X/USDT:USDT": [{"minNotional": 0}]}')
    with pytest.raises(DataError, match="lacks a number"):
        LeverageTiers.read_json(tmp_path / "t.json", "X/USDT")


def test_the_liquidation_price_uses_the_tier_of_the_notional():
    """10x long of 10,000 XRP at 1.5: notional 15,000 is in XRP's second tier (0.65%, cum 15),
    margin 1,500: LP = (1,500 + 15 - 15,000) / (10,000 x (0.0065 - 1)) = 13,485 / 9,935."""
    acc = FuturesAccount(D(10_000), leverage=D(10), tiers=LeverageTiers.read_json(TIERS, "XRP/USDT"))
    acc.apply(fill(Side.BUY, "10000", "1.5"))
    assert acc.liquidation_price("XRP/USDT") == D(13_485) / D(9_935)
    single = FuturesAccount(D(10_000), leverage=D(10), maintenance_rate=D("0.005"))
    single.apply(fill(Side.BUY, "10000", "1.5"))
    assert single.liquidation_price("XRP/USDT") < acc.liquidation_price("XRP/USDT")  # the higher tier is nearer


def test_each_market_of_an_account_uses_its_own_tiers():
    """One account trading XRP, BTC and ETH perpetuals: each position's liquidation price
    comes from its own market's tiers (XRP's 13,485 / 9,935 as above); ETH, without tiers, from
    the account's single rate. One set of tiers for every symbol would be wrong for two."""
    xrp, btc = LeverageTiers.read_json(TIERS, "XRP/USDT"), LeverageTiers.read_json(TIERS, "BTC/USDT")
    acc = FuturesAccount(D(100_000), leverage=D(10), maintenance_rate=D("0.01"),
                         tiers={"XRP/USDT": xrp, "BTC/USDT": btc})
    acc.apply(fill(Side.BUY, "10000", "1.5"))
    acc.apply(Fill("t2", "c2", "BTC/USDT", Side.SELL, D("1.5"), D(10_000), D(0), 1000))
    acc.apply(Fill("t3", "c3", "ETH/USDT", Side.BUY, D(10), D(1_500), D(0), 1000))
    assert acc.liquidation_price("XRP/USDT") == D(13_485) / D(9_935)
    tier = btc.at(D(15_000))
    assert tier != xrp.at(D(15_000))
    assert acc.liquidation_price("BTC/USDT") == liquidation_price(D("-1.5"), D(10_000), D(1_500), tier.rate, tier.amount)
    assert acc.liquidation_price("ETH/USDT") == liquidation_price(D(10), D(1_500), D(1_500), D("0.01"))


def test_tiered_liquidations_agree_in_both_engines_and_by_hand(candles):
    """50x, 30% of equity a trade (notionals across XRP's first tiers): vectorised =
    event-driven, and the first liquidation is at the tiered price computed from its entry."""
    tiers = LeverageTiers.read_json(TIERS, "XRP/USDT")
    cfg = BacktestConfig(symbol="XRP/USDT", timeframe="5m", cash=D(40_000), fee_rate=D("0.0005"), stake="30%",
                         market="futures", leverage=D(50), tiers=tiers)
    make = lambda: create("sma_cross", {"allow_short": True})  # noqa: E731
    event = run_backtest(candles, make(), cfg)
    assert_same_futures_run(event, run_vectorized(candles, make(), cfg))
    liquidated = [t for t in event.trades if _kind(t) == "liquidation"]
    assert liquidated
    t = liquidated[0]
    notional = t.qty * t.entry_price
    tier = tiers.at(notional)
    assert tier.min_notional > 0  # not the first tier: the amount matters
    s = -1 if t.short else 1
    by_hand = (notional / 50 + tier.amount - s * notional) / (t.qty * (tier.rate - s))
    assert float(t.exit_price) == pytest.approx(float(by_hand), rel=1e-12)


def test_the_tiers_cap_a_position_at_its_leverage(candles):
    """At 50x XRP's tiers allow 20,000 of position (the second tier's cap; the third allows
    40x): a 30%-of-40,000 stake (600,000 at 50x) is cut to it, in both engines."""
    tiers = LeverageTiers.read_json(TIERS, "XRP/USDT")
    assert tiers.max_notional(D(50)) == D(20_000) and tiers.max_notional(D(75)) == D(10_000)
    assert tiers.max_notional(D(200)) == 0
    cfg = BacktestConfig(symbol="XRP/USDT", timeframe="5m", cash=D(40_000), stake="30%", market="futures",
                         leverage=D(50), tiers=tiers)
    for run in (run_backtest, run_vectorized):
        trades = run(candles, create("sma_cross", {"allow_short": True}), cfg).trades
        assert len(trades) > 10
        assert all(float(t.qty * t.entry_price) == pytest.approx(20_000, rel=1e-9) for t in trades[:10])
