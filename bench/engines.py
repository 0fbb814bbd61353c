"""The engines the bench times, each on the same rules and the same data.

Rules (quantd's ``sma_cross``): SMA(fast) and SMA(slow) of closes; BUY at the close of a
candle where ``fast > slow`` after ``fast <= slow``, SELL where ``fast < slow`` after
``fast >= slow``; orders fill at the **next open**; fee 0.1% of notional; long only, one
position, ``STAKE`` quote per entry. Every engine returns its closed round trips as ``(entry_ts_ms, exit_ts_ms,
entry_price, exit_price)`` so the bench can check they agree before timing anything.
quantd closes a position still open at the end of data at the last close; the peers
leave it open, so the comparison is over the trades the peers closed.

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

Trades = list[tuple[int, int, float, float]]


def _config(df: pd.DataFrame):
    from engine.backtest.engine import BacktestConfig

    return BacktestConfig(symbol="BTC/USDT", timeframe="1m", cash=Decimal(CASH), fee_rate=Decimal(str(FEE)),
                          stake=str(STAKE))


def _quantd_trades(result) -> Trades:
    from engine.backtest.trades import END_OF_DATA

    return [(t.entry_ts_ms, t.exit_ts_ms, float(t.entry_price), float(t.exit_price))
            for t in result.trades if t.exit_reason != END_OF_DATA]


def quantd_event(df: pd.DataFrame):
    """quantd's event-driven backtest: strategy, sizing, risk manager, OMS, portfolio, the
    simulated exchange and the trade journal, candle by candle, as the daemon runs them."""
    from engine.backtest.engine import run_backtest
    from engine.strategy import create

    cfg = _config(df)

    def run() -> Trades:
        return _quantd_trades(run_backtest(df, create("sma_cross", {"fast": FAST, "slow": SLOW}), cfg))

    return run


def quantd_vectorized(df: pd.DataFrame):
    """``quantd backtest --vectorized``: ``signals(df)`` then fills over trades only."""
    from engine.backtest.vectorized import run_vectorized
    from engine.strategy import create

    cfg = _config(df)

    def run() -> Trades:
        result = run_vectorized(df, create("sma_cross", {"fast": FAST, "slow": SLOW}), cfg)
        t = result.table
        keep = ~t.end_of_data
        return list(zip(t.entry_ts_ms[keep].tolist(), t.exit_ts_ms[keep].tolist(),
                        t.entry_price[keep].tolist(), t.exit_price[keep].tolist()))

    return run


def backtrader(df: pd.DataFrame):
    """backtrader 1.9 (event-driven): ``SMA`` indicators (exactly rounded sums, like quantd's),
    market orders (filled at the next open), ``runonce`` and ``preload`` (its fastest mode),
    ``stdstats=False``; cash large enough that a 1-unit order is never refused."""
    import backtrader as bt

    feed_df = df.assign(datetime=pd.to_datetime(df["timestamp"], unit="ms")).set_index("datetime")
    feed_df = feed_df[["open", "high", "low", "close", "volume"]]

    class Cross(bt.Strategy):
        def __init__(self):
            self.fast = bt.ind.SMA(self.data.close, period=FAST)
            self.slow = bt.ind.SMA(self.data.close, period=SLOW)
            self.closed: Trades = []

        def next(self):
            f0, s0, f1, s1 = self.fast[0], self.slow[0], self.fast[-1], self.slow[-1]
            if not self.position:
                if f0 > s0 and f1 <= s1:
                    self.buy(size=1)
            elif f0 < s0 and f1 >= s1:
                self.sell(size=1)

        def notify_order(self, order):
            if order.status != order.Completed:
                return
            fill = (_ms(bt.num2date(order.executed.dt)), order.executed.price)
            if order.isbuy():
                self.entry = fill
            else:
                self.closed.append((self.entry[0], fill[0], self.entry[1], fill[1]))

    def run() -> Trades:
        cerebro = bt.Cerebro(stdstats=False, runonce=True, preload=True)
        cerebro.adddata(bt.feeds.PandasData(dataname=feed_df))
        cerebro.addstrategy(Cross)
        cerebro.broker.setcash(1e12)
        cerebro.broker.setcommission(commission=FEE)
        strat = cerebro.run()[0]
        return strat.closed

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

    def run() -> Trades:
        d = close.rolling(FAST).mean() - close.rolling(SLOW).mean()
        prev = d.shift(1)
        entries = ((d > 0) & (prev <= 0)).shift(1, fill_value=False)
        exits = ((d < 0) & (prev >= 0)).shift(1, fill_value=False)
        pf = vbt.Portfolio.from_signals(close, entries, exits, price=open_, fees=FEE,
                                        init_cash=float(CASH), size=float(STAKE), size_type="value")
        rec = pf.trades.records
        rec = rec[rec["status"] == 1]  # closed
        return list(zip(ts[rec["entry_idx"]].tolist(), ts[rec["exit_idx"]].tolist(),
                        rec["entry_price"].tolist(), rec["exit_price"].tolist()))

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
        n = len(close)
        pending = 0
        for i in range(n):
            if pending:
                if pending > 0:
                    entry = i
                else:
                    trades.append((int(ts[entry]), int(ts[i]), float(open_[entry]), float(open_[i])))
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
        return trades

    return run


ENGINES = {
    "quantd event-driven": quantd_event,
    "quantd vectorised": quantd_vectorized,
    "backtrader": backtrader,
    "vectorbt": vectorbt,
    "numpy loop": numpy_loop,
}
PEERS = ("backtrader", "vectorbt", "numpy loop")
