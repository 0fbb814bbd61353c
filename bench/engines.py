"""The engines the bench times, each on the same rules and the same data.

Rules (quantd's ``sma_cross``): SMA(fast) and SMA(slow) of closes; BUY at the close of a
candle where ``fast > slow`` after ``fast <= slow``, SELL where ``fast < slow`` after
``fast >= slow``; orders fill at the **next open**; fee 0.1% of notional, paid on top;
long only, one position; each entry buys ``STAKE`` quote worth (quantity ``STAKE / fill
price``); a position still open after the last candle is closed at the last close (fee
included), and that trade is marked end-of-data. Every engine returns its round trips as
``(entry_ts_ms, exit_ts_ms, entry_price, exit_price, qty, fees, pnl, end_of_data)`` (prices
quote per base, qty base, fees and pnl quote, pnl net of both fees) so the bench can check
they agree before timing anything. Where a peer cannot fill after its last candle
(backtrader, vectorbt), the end-of-data exit is priced from the position it reports.

An engine is ``prepare(df) -> state`` (untimed: data conversion each library needs) and
``run(state) -> trades`` (timed).
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

FAST, SLOW, FEE = 10, 30, 0.001
CASH, STAKE = 10_000_000, 10_000
"""Quote currency: each entry buys 10,000 of a 10M account, so fees never run the account
down over the 1M-candle series (all-in on 20,000 round trips would reach dust)."""

Trades = list[tuple[int, int, float, float, float, float, float, int]]


def _config(df: pd.DataFrame):
    from engine.backtest.engine import BacktestConfig

    return BacktestConfig(symbol="BTC/USDT", timeframe="1m", cash=Decimal(CASH), fee_rate=Decimal(str(FEE)),
                          stake=str(STAKE))


def _quantd_trades(result) -> Trades:
    from engine.backtest.trades import END_OF_DATA

    return [(t.entry_ts_ms, t.exit_ts_ms, float(t.entry_price), float(t.exit_price), float(t.qty), float(t.fees),
             float(t.pnl), int(t.exit_reason == END_OF_DATA)) for t in result.trades]


def quantd_event(df: pd.DataFrame):
    """quantd's event-driven backtest: strategy, sizing, risk manager, OMS, portfolio, the
    simulated exchange and the trade journal, candle by candle, as the daemon runs them."""
    from engine.backtest.engine import run_backtest
    from engine.strategy import create

    cfg = _config(df)

    def run() -> Trades:
        return _quantd_trades(run_backtest(df, create("sma_cross", {"fast": FAST, "slow": SLOW}), cfg))

    return run


def quantd_event_compiled(df: pd.DataFrame):
    """:func:`quantd_event` on the optional compiled core (``make compiled``; the bench builds
    it in a copy of the package and puts that first on the worker's path).

    Raises:
        RuntimeError: the engine imported is the pure-Python one.
    """
    from engine.compiled import compiled_modules

    if not compiled_modules():
        raise RuntimeError("the compiled core is not on the path: the bench builds it first (needs mypy and a C compiler)")
    return quantd_event(df)


def quantd_vectorized(df: pd.DataFrame):
    """``quantd backtest --vectorized``: ``signals(df)`` then fills over trades only."""
    from engine.backtest.vectorized import run_vectorized
    from engine.strategy import create

    cfg = _config(df)

    def run() -> Trades:
        result = run_vectorized(df, create("sma_cross", {"fast": FAST, "slow": SLOW}), cfg)
        t = result.table
        return list(zip(t.entry_ts_ms.tolist(), t.exit_ts_ms.tolist(), t.entry_price.tolist(), t.exit_price.tolist(),
                        t.qty.tolist(), (t.entry_fee + t.exit_fee).tolist(), t.pnl.tolist(),
                        t.end_of_data.astype(int).tolist()))

    return run


def _round_trip(entry: tuple, exit_ts: int, exit_px: float, exit_fee: float, end_of_data: int) -> tuple:
    """A trade record from an entry ``(ts, price, qty, fee)`` and its exit."""
    ts, px, qty, fee = entry
    return (ts, exit_ts, px, exit_px, qty, fee + exit_fee, qty * (exit_px - px) - fee - exit_fee, end_of_data)


def backtrader(df: pd.DataFrame):
    """backtrader 1.9 (event-driven): ``SMA`` indicators (exactly rounded sums, like quantd's),
    ``cheat_on_open`` so an entry is sized on the open it fills at (``STAKE / open``), market
    orders filled at the next open, commission 0.1%, ``runonce`` and ``preload`` (its fastest
    mode), ``stdstats=False``. Sizes, prices and commissions are backtrader's executed ones;
    an open position is valued at the last close after the run."""
    import backtrader as bt

    feed_df = df.assign(datetime=pd.to_datetime(df["timestamp"], unit="ms")).set_index("datetime")
    feed_df = feed_df[["open", "high", "low", "close", "volume"]]
    last_ts, last_close = int(df["timestamp"].iloc[-1]), float(df["close"].iloc[-1])

    class Cross(bt.Strategy):
        def __init__(self):
            self.fast = bt.ind.SMA(self.data.close, period=FAST)
            self.slow = bt.ind.SMA(self.data.close, period=SLOW)
            self.want = 0
            self.entry: tuple | None = None
            self.closed: Trades = []

        def next(self):
            f0, s0, f1, s1 = self.fast[0], self.slow[0], self.fast[-1], self.slow[-1]
            if not self.position:
                if f0 > s0 and f1 <= s1:
                    self.want = 1
            elif f0 < s0 and f1 >= s1:
                self.want = -1

        def next_open(self):
            if self.want > 0:
                self.buy(size=STAKE / self.data.open[0])
            elif self.want < 0:
                self.close()
            self.want = 0

        def notify_order(self, order):
            if order.status != order.Completed:
                return
            ex = order.executed
            ts = _ms(bt.num2date(ex.dt))
            if order.isbuy():
                self.entry = (ts, ex.price, ex.size, ex.comm)
            else:
                self.closed.append(_round_trip(self.entry, ts, ex.price, ex.comm, 0))
                self.entry = None

    def run() -> Trades:
        cerebro = bt.Cerebro(stdstats=False, runonce=True, preload=True, cheat_on_open=True)
        cerebro.adddata(bt.feeds.PandasData(dataname=feed_df))
        cerebro.addstrategy(Cross)
        cerebro.broker.setcash(1e12)
        cerebro.broker.setcommission(commission=FEE)
        strat = cerebro.run()[0]
        trades = strat.closed
        if strat.entry is not None:
            qty = strat.entry[2]
            trades.append(_round_trip(strat.entry, last_ts, last_close, qty * last_close * FEE, 1))
        return trades

    return run


def _ms(dt) -> int:
    return int(pd.Timestamp(dt).tz_localize(None).value // 1_000_000)


def vectorbt(df: pd.DataFrame):
    """vectorbt ``Portfolio.from_signals`` (numba): pandas rolling means, crossings by the
    rules above, signals shifted one candle and filled at ``price=open``, fees 0.1%,
    ``STAKE`` quote per entry. Timed warm (numba compiled by a first call)."""
    import vectorbt as vbt

    close, open_ = df["close"], df["open"]
    ts = df["timestamp"].to_numpy()
    last_ts, last_close = int(ts[-1]), float(close.iloc[-1])

    def run() -> Trades:
        d = close.rolling(FAST).mean() - close.rolling(SLOW).mean()
        prev = d.shift(1)
        entries = ((d > 0) & (prev <= 0)).shift(1, fill_value=False)
        exits = ((d < 0) & (prev >= 0)).shift(1, fill_value=False)
        pf = vbt.Portfolio.from_signals(close, entries, exits, price=open_, fees=FEE,
                                        init_cash=float(CASH), size=float(STAKE), size_type="value")
        rec = pf.trades.records
        trades: Trades = []
        for r in rec.itertuples(index=False):
            entry = (int(ts[r.entry_idx]), r.entry_price, r.size, r.entry_fees)
            if r.status == 1:  # closed
                trades.append(_round_trip(entry, int(ts[r.exit_idx]), r.exit_price, r.exit_fees, 0))
            else:  # open at the end: valued at the last close, the exit fee added
                trades.append(_round_trip(entry, last_ts, last_close, r.size * last_close * FEE, 1))
        return trades

    run()  # compile
    return run


def numpy_loop(df: pd.DataFrame):
    """A bare Python loop over numpy arrays with running-sum SMAs: what hand-written code
    without any engine costs (no sizing, risk, orders or journal)."""
    close = df["close"].to_numpy(dtype=float)
    open_ = df["open"].to_numpy(dtype=float)
    ts = df["timestamp"].to_numpy()

    def run() -> Trades:
        trades: Trades = []
        fsum = ssum = 0.0
        prev_d = None
        entry = -1
        held: tuple = ()
        n = len(close)
        pending = 0
        for i in range(n):
            if pending:
                if pending > 0:
                    entry = i
                    px = float(open_[i])
                    held = (int(ts[i]), px, STAKE / px, STAKE / px * px * FEE)
                else:
                    px = float(open_[i])
                    trades.append(_round_trip(held, int(ts[i]), px, held[2] * px * FEE, 0))
                    entry = -1
                pending = 0
            c = close[i]
            fsum += c
            ssum += c
            if i >= FAST:
                fsum -= close[i - FAST]
            if i >= SLOW:
                ssum -= close[i - SLOW]
            if i < SLOW - 1:
                continue
            d = fsum / FAST - ssum / SLOW
            if prev_d is not None and i < n - 1:
                if entry < 0 and d > 0 and prev_d <= 0:
                    pending = 1
                elif entry >= 0 and d < 0 and prev_d >= 0:
                    pending = -1
            prev_d = d
        if entry >= 0:
            px = float(close[-1])
            trades.append(_round_trip(held, int(ts[-1]), px, held[2] * px * FEE, 1))
        return trades

    return run


ENGINES = {
    "quantd event-driven": quantd_event,
    "quantd event-driven (compiled)": quantd_event_compiled,
    "quantd vectorised": quantd_vectorized,
    "backtrader": backtrader,
    "vectorbt": vectorbt,
    "numpy loop": numpy_loop,
}
PEERS = ("backtrader", "vectorbt", "numpy loop")
