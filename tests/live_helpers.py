"""Building blocks of the live-trading tests: a fake Binance over the real 1m file, and the
real ccxt gateway, OMS and SQL store pointed at it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd

from engine.events import Event
from engine.models import Candle, Fill, Order, Side
from engine.oms import OrderManager
from engine.portfolio import Portfolio
from engine.reconcile import Reconciler
from engine.risk.manager import RiskManager
from engine.store import SqlJournal, load_state, open_store
from engine.store.state import init_account
from gateways.ccxt_errors import RetryPolicy
from gateways.ccxt_gateway import CcxtGateway
from tests.fakes.binance import FakeBinance

MINUTE = 60_000
FAST_RETRY = RetryPolicy(attempts=3, initial_secs=0.02, max_wait_secs=0.05, jitter_secs=0.01, max_total_secs=5)

_FRAMES: dict[Path, pd.DataFrame] = {}


def real_1m(data_dir: Path) -> pd.DataFrame:
    """The real BTC/USDT 1m candles (read once per session)."""
    path = data_dir / "binance" / "BTC_USDT-1m.csv.gz"
    if path not in _FRAMES:
        _FRAMES[path] = pd.read_csv(path)
    return _FRAMES[path]


def make_venue(data_dir: Path, row: int = 300, usdt: str = "1000", btc: str = "0", speed: float = 0.0) -> FakeBinance:
    """A started fake Binance whose clock is 1 s into the candle at ``row`` of the real 1m file."""
    df = real_1m(data_dir)
    venue = FakeBinance(data_dir / "fixtures", {"BTCUSDT": df}, MINUTE, int(df.timestamp[row]) + 1000,
                        {"USDT": usdt, "BTC": btc}, speed=speed)
    venue.fault_sleep_secs = 1.0
    venue.url = venue.start()
    return venue


def make_gateway(venue: FakeBinance, retry: RetryPolicy = FAST_RETRY, market: str = "spot") -> CcxtGateway:
    """The real ccxt binance class, its HTTP answered by ``venue`` (``market="futures"``: its
    USD-M endpoints)."""
    return CcxtGateway("binance", api_key="test-key", secret="test-secret", api_url=venue.url, timeout_ms=500,
                       retry=retry, market=market)


@dataclass
class Desk:
    """Store + OMS + reconciler over one gateway, as the live daemon wires them."""

    store: object
    journal: SqlJournal
    oms: OrderManager
    risk: RiskManager
    reconciler: Reconciler
    events: list[Event]

    def submit_buy(self, quote: str, seq_ts: int = 1, **kw) -> Order:
        """A market buy spending ``quote`` USDT."""
        return self.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=seq_ts, now_ms=seq_ts,
                               quote_qty=Decimal(quote), intent="test", **kw)

    def drain(self) -> list[Event]:
        """Events produced so far (taken from the OMS)."""
        self.events.extend(self.oms.take_events())
        return self.events


def open_desk(tmp_path: Path, gateway: CcxtGateway, baseline: dict[str, Decimal], cash: str = "1000",
              adopt: bool = False) -> Desk:
    """A desk over the store in ``tmp_path`` (created on first use, resumed after); ``adopt``:
    reconciliation adopts external orders."""
    store = open_store(f"sqlite:///{tmp_path / 'live.sqlite'}")
    if load_state(store) is None:
        init_account(store, "live", Decimal(cash), "USDT", 0, baseline)
    state = load_state(store)
    journal = SqlJournal(store)
    oms = OrderManager(gateway, journal, state.portfolio, state.orders)
    oms.mark_fills_seen(state.trade_ids)
    risk = RiskManager([], state.breaker)
    rec = Reconciler(oms, gateway, journal, risk, ["BTC/USDT"], state.baseline, state.fills, Decimal("0.5"),
                     {"BTC": Decimal("0.00001"), "USDT": Decimal("0.01")}, state.reported_external, adopt)
    return Desk(store, journal, oms, risk, rec, [])


def candle_now(venue: FakeBinance) -> Candle:
    """The forming candle as a Candle (what a sync call passes)."""
    row = venue.forming("BTCUSDT")
    return Candle(int(row["timestamp"]), float(row["open"]), float(row["high"]), float(row["low"]),
                  float(row["close"]), float(row["volume"]))


def expected_from_fills(fills: list[Fill], cash: Decimal) -> tuple[Decimal, Decimal]:
    """(cash, BTC position) implied by ``fills`` from ``cash``: the accounting identity."""
    portfolio = Portfolio(cash, "USDT")
    btc = Decimal(0)
    for f in fills:
        quote_fee, base_fee = portfolio.split_fee(f)
        sign = 1 if f.side is Side.BUY else -1
        cash -= sign * f.qty * f.price + quote_fee
        btc += sign * f.qty - base_fee
    return cash, btc


__all__ = ["Desk", "FAST_RETRY", "MINUTE", "candle_now", "expected_from_fills", "make_gateway",
           "make_venue", "open_desk", "real_1m"]
