"""Dry-run of a perpetual (``mode: dry_run``, ``market: futures``, ADR 0017): the real ccxt
``binance`` class reads the USD-M public endpoints of the fake Binance (markets, candles,
funding rates; no key), and the simulated futures account trades long and short at 3x and
pays the funding the exchange publishes.

Data: the market rules are Binance's real BTCUSDT perpetual (``/fapi/v1/exchangeInfo``, a
2022 capture) and the funding rates are Binance's real BTCUSDT rates of 2019-10-09 08:00 and
16:00 UTC (-3.75% and 0.01%, ``/fapi/v1/fundingRate``), both from nautilus_trader's test
resources (``tests/fixtures/futures``). The candles are the real BTC/USDT **spot** 1h candles
of those days, standing in for the perpetual's price: no real perpetual candle file of 2019
is at hand."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from bot.app import build_engine
from bot.config import load_settings
from engine.store import load_state, open_store
from tests.daemon_helpers import replay_from
from tests.db_helpers import rows
from tests.fakes.binance import FakeBinance
from tests.futures_helpers import END, FUNDING_1, FUNDING_2, HOUR, START, STRATEGY, btc_1h_frame


@pytest.fixture
def btc_1h(data_dir) -> pd.DataFrame:
    return btc_1h_frame(data_dir)


@pytest.fixture
def venue(data_dir, btc_1h):
    v = FakeBinance(data_dir / "fixtures", {"BTCUSDT": btc_1h}, HOUR, START + 1000, {"USDT": "1000"})
    v.url = v.start()
    yield v
    v.stop()


def _dry_run(tmp_path: Path, venue: FakeBinance):
    url = f"sqlite:///{tmp_path / 'dry.sqlite'}"
    settings = load_settings(mode="dry_run", market="futures", futures={"leverage": 3}, strategy=STRATEGY,
                             paper={"cash": 1000, "fee": "0.0005"}, store={"url": url},
                             exchange={"api_url": venue.url, "timeout_ms": 2000, "rate_limit_ms": 1},
                             vault={"dir": str(tmp_path / "no-vault")})
    engine, store = build_engine(settings)
    try:
        while venue.now_ms() < END:
            venue.advance(HOUR)
            engine.step()
    finally:
        engine.stop("test")
        store.close()
    return url


def _ledger(url: str) -> tuple[list, Decimal, Decimal, Decimal]:
    store = open_store(url, create=False)
    try:
        state = load_state(store)
    finally:
        store.close()
    account = state.portfolio
    fills = [(f.ts_ms, f.side.value, f.qty, f.price, f.fee) for f in state.fills]
    return fills, account.wallet, account.funding_paid, account.fees_paid


def test_a_futures_dry_run_pays_the_funding_the_exchange_publishes_and_trades_both_sides(tmp_path, venue, btc_1h):
    url = _dry_run(tmp_path, venue)
    assert {r[1] for r in venue.requests} <= {"/fapi/v1/exchangeInfo", "/fapi/v1/time", "/fapi/v1/klines",
                                              "/fapi/v1/fundingRate"}, "USD-M public endpoints only: no key is used"
    db = tmp_path / "dry.sqlite"
    funding = [json.loads(p) for (p,) in rows(db, "select payload from events where kind = 'funding' order by id")]
    assert [(f["through_ms"], f["rate"]) for f in funding] == [(FUNDING_1 + HOUR, "-0.0375"),
                                                              (FUNDING_2 + HOUR, "0.0001")]
    opens = dict(zip(btc_1h.timestamp, btc_1h.open))
    for f in funding:
        qty, mark, rate = Decimal(f["qty"]), Decimal(f["mark"]), Decimal(f["rate"])
        assert mark == Decimal(repr(float(opens[f["through_ms"] - HOUR]))), "the mark is the open of that candle"
        assert qty != 0 and Decimal(f["amount"]) == qty * mark * rate
    fills, wallet, paid, fees = _ledger(url)
    held, went_short = Decimal(0), False
    for _, side, qty, _, _ in sorted(fills):
        held += qty if side == "buy" else -qty
        went_short |= held < 0
    assert len(fills) >= 4 and went_short, "long and short positions"
    assert paid == sum((Decimal(f["amount"]) for f in funding), Decimal(0)) != 0
    assert wallet == 1000 + load_state_realized(url) - fees - paid


def load_state_realized(url: str) -> Decimal:
    store = open_store(url, create=False)
    try:
        return load_state(store).portfolio.realized_pnl
    finally:
        store.close()


def test_the_dry_run_is_a_paper_replay_of_the_same_candles_and_funding(tmp_path, venue, btc_1h):
    """A paper futures daemon replaying the candles the dry run processed, with the
    exchange's market rules and funding rates written to files, makes the same fills and
    ends with the same wallet, funding and fees, to the last digit."""
    url = _dry_run(tmp_path, venue)
    dry = _ledger(url)
    db = tmp_path / "dry.sqlite"
    cursor = rows(db, "select last_ts_ms from candle_cursors")[0][0]
    first_fill = min(f[0] for f in dry[0])
    closes = [ts for (ts,) in rows(db, "select ts_ms from equity_snapshots order by ts_ms")]
    first_open = closes[0] - HOUR
    assert first_fill > first_open

    data = tmp_path / "BTC_USDT-1h.csv.gz"
    btc_1h[btc_1h.timestamp <= cursor].to_csv(data, index=False)
    funding = tmp_path / "funding.csv"
    funding.write_text("timestamp,funding_rate\n" + "".join(
        f"{r['fundingTime']},{r['fundingRate']}\n" for r in venue.funding_rates))
    paper_url = f"sqlite:///{tmp_path / 'replay.sqlite'}"
    settings = load_settings(mode="paper", market="futures", futures={"leverage": 3},
                             strategy={**STRATEGY, "data": str(data), "funding": str(funding),
                                       "amount_step": "0.001", "price_step": "0.1", "min_notional": "10"},
                             paper={"cash": 1000, "fee": "0.0005"}, store={"url": paper_url},
                             replay={"speed": 100_000})
    replay_from(settings, btc_1h, first_open, HOUR, market="futures", leverage=Decimal(3))
    assert _ledger(paper_url) == dry
