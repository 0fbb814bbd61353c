"""Running a paper daemon in this process (``build_engine``, stepped by hand), for tests that
compare its ledger with a backtest's or a dry run's."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from bot.app import build_engine
from engine.store import open_store
from engine.store.ledger import CandleCursorRow
from engine.store.state import init_account


def replay_in_process(settings) -> int:
    """Run a paper daemon over its whole replay file at once (the replay clock jumps past the
    last close time); returns the candles processed."""
    engine, store = build_engine(settings)
    try:
        now = [0.0]
        engine.lanes[0].market.feed._clock = lambda: now[0]
        engine.step()  # the replay clock starts at the first poll
        now[0] = 1e6  # then every close time is due
        return sum(engine.step() for _ in range(3))
    finally:
        store.close()


def replay_from(settings, df: pd.DataFrame, first_open: int, tf_ms: int, market: str = "spot",
                leverage: Decimal | None = None) -> None:
    """Run the paper daemon of ``settings`` (one market, whose replay file is ``df``) as if it
    had processed every candle before ``first_open`` (ms UTC) with nothing traded: its account
    (``paper.cash``) and candle cursor are written first, so it warms up on the earlier candles
    and trades from ``first_open`` on, as a dry run that started there did."""
    m = settings.markets()[0]
    store = open_store(settings.store.url)
    init_account(store, "paper", settings.paper.cash, m.symbol.split("/")[1], 0, market=market, leverage=leverage)
    before = first_open - tf_ms
    with store.transaction() as s:
        s.add(CandleCursorRow(key=f"{m.name}|{m.symbol}|{m.timeframe}", last_ts_ms=before,
                              close=Decimal(repr(float(df[df.timestamp == before].close.iloc[0])))))
    store.close()
    engine, store = build_engine(settings)
    try:
        while not engine.exhausted:
            engine.step()
    finally:
        engine.stop("test")
        store.close()
