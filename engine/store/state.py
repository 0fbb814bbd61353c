"""Read side of the store: the state to resume from, and the summary ``quantd status`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select

from engine.events import EventKind
from engine.futures import FuturesAccount
from engine.models import ZERO, Fill, Order, Position, Side
from engine.portfolio import Portfolio
from engine.risk.breaker import BreakerState, CircuitBreaker
from engine.risk.protection import Protection
from engine.store.account import AccountRow, PositionRow
from engine.store.base import MetaRow, Store
from engine.store.journal import ACCOUNT_ID
from engine.store.ledger import BreakerRow, CandleCursorRow, EquitySnapshotRow, EventRow, OperatorCommandRow
from engine.store.orders import FillRow, OrderRow
from engine.store.pairlocks import open_locks
from engine.store.reconciliation import BalanceBaselineRow, ReconciliationIssueRow


@dataclass
class StoredState:
    """What a restart resumes from.

    Attributes:
        mode: "paper" or "live" (a store serves one mode).
        portfolio: cash and positions.
        orders: every order, any status.
        trade_ids: ids of fills already booked.
        cursors: strategy/symbol/timeframe key -> open time (ms UTC) of the last processed candle.
    """

    mode: str
    portfolio: Portfolio
    orders: list[Order] = field(default_factory=list)
    trade_ids: list[str] = field(default_factory=list)
    cursors: dict[str, int] = field(default_factory=dict)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    peak_equity: Decimal = ZERO
    """Highest stored equity since the breaker last changed, quote (the drawdown peak)."""
    fills: list[Fill] = field(default_factory=list)
    protections: dict[str, Protection] = field(default_factory=dict)
    baseline: dict[str, Decimal] = field(default_factory=dict)
    """Live: asset -> exchange total when the account was created."""
    reported_external: set[str] = field(default_factory=set)
    """Exchange ids of external orders already reported by reconciliation."""
    last_reconciliation_ms: int | None = None
    locks: dict = field(default_factory=dict)
    """Per-pair entry locks no operator ended (symbol -> :class:`engine.risk.pairlocks.PairLock`)."""
    funded_through: dict[str, int] = field(default_factory=dict)
    """Futures: symbol -> time (ms UTC) before which every funding time is booked."""

    @property
    def market(self) -> str:
        """``futures`` for a :class:`~engine.futures.FuturesAccount`, else ``spot``."""
        return "futures" if self.portfolio.allows_short else "spot"


def init_account(store: Store, mode: str, cash: Decimal, quote: str, now_ms: int,
                 baseline: dict[str, Decimal] | None = None, market: str = "spot",
                 leverage: Decimal | None = None) -> None:
    """Create the account row on the first start (no-op when it exists), with the exchange
    balances a live account starts from (``baseline``, asset -> total), in one transaction.
    A ``futures`` account (ADR 0017) starts with ``cash`` as its wallet at ``leverage``."""
    futures = market == "futures"
    with store.transaction() as s:
        if s.get(AccountRow, ACCOUNT_ID) is None:
            s.add(AccountRow(id=ACCOUNT_ID, mode=mode, quote=quote, initial_cash=cash, cash=cash,
                             fees_paid=ZERO, updated_ts_ms=now_ms, market=market,
                             leverage=Decimal(leverage or 1) if futures else None,
                             wallet=cash if futures else None, funding_paid=ZERO if futures else None))
            for asset, amount in (baseline or {}).items():
                s.add(BalanceBaselineRow(asset=asset, amount=amount, ts_ms=now_ms))


def set_leverage(store: Store, leverage: Decimal, now_ms: int) -> None:
    """Store a futures account's new leverage (its positions are flat: the caller checks)."""
    with store.transaction() as s:
        acct = s.get(AccountRow, ACCOUNT_ID)
        acct.leverage, acct.updated_ts_ms = Decimal(leverage), now_ms


INSTANCE_TAG_LEN = 6
_TAG_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def instance_tag(store: Store) -> str:
    """This store's instance tag (6 characters of a-z0-9, about 2.2e9 possibilities), made
    once when first asked for and kept in ``meta``: every client order id carries it, so ids
    never repeat across stores or daemons on one account (ADR 0012). A copy of a store (a
    restored backup) keeps its tag: run a copy only in place of the original."""
    import secrets

    with store.read() as s:
        row = s.get(MetaRow, "instance_tag")
    if row is not None:
        return row.value
    tag = "".join(secrets.choice(_TAG_ALPHABET) for _ in range(INSTANCE_TAG_LEN))
    with store.transaction() as s:
        existing = s.get(MetaRow, "instance_tag")
        if existing is not None:
            return existing.value
        s.add(MetaRow(key="instance_tag", value=tag))
    return tag


def add_baseline(store: Store, balances: dict[str, Decimal], now_ms: int) -> None:
    """Add assets to the live account's balance baseline (a market added later); assets
    already in it are left unchanged."""
    with store.transaction() as s:
        for asset, amount in balances.items():
            if s.get(BalanceBaselineRow, asset) is None:
                s.add(BalanceBaselineRow(asset=asset, amount=amount, ts_ms=now_ms))


def load_state(store: Store) -> StoredState | None:
    """The stored state, or None for an empty store."""
    with store.read() as s:
        acct = s.get(AccountRow, ACCOUNT_ID)
        if acct is None:
            return None
        rows = list(s.scalars(select(PositionRow)))
        positions = {r.symbol: Position(r.symbol, r.qty, r.avg_price, r.realized_pnl, r.opened_ts_ms) for r in rows}
        protections = {r.symbol: Protection(r.stop_price, r.take_profit_price, short=r.qty < 0) for r in rows
                       if r.qty != 0 and (r.stop_price is not None or r.take_profit_price is not None)}
        if acct.market == "futures":
            portfolio = _futures_account(acct, rows, positions)
        else:
            portfolio = Portfolio(acct.cash, acct.quote, acct.initial_cash, acct.fees_paid, positions)
        orders = [r.to_order() for r in s.scalars(select(OrderRow).order_by(OrderRow.id))]
        cursors = {r.key: r.last_ts_ms for r in s.scalars(select(CandleCursorRow))}
        b = s.get(BreakerRow, 1)
        breaker = CircuitBreaker(BreakerState(b.state), b.reason, b.since_ms, b.flatten_pending) if b else CircuitBreaker()
        peak = s.scalars(select(EquitySnapshotRow.equity).where(EquitySnapshotRow.ts_ms >= breaker.since_ms)).all()
        fills = [Fill(r.trade_id, r.client_order_id, r.symbol, Side(r.side), r.qty, r.price, r.fee, r.ts_ms, r.fee_asset)
                 for r in s.scalars(select(FillRow).order_by(FillRow.id))]
        baseline = {r.asset: r.amount for r in s.scalars(select(BalanceBaselineRow))}
        external = {r.detail.get("exchange_order_id", "") for r in s.scalars(
            select(ReconciliationIssueRow).where(ReconciliationIssueRow.kind == "external_order"))}
        meta = s.get(MetaRow, "last_reconciliation_ms")
        last_rec = int(meta.value) if meta else None
        locks = open_locks(s)
        funded: dict[str, int] = {}
        if acct.market == "futures":
            for (payload,) in s.execute(select(EventRow.payload).where(EventRow.kind == EventKind.FUNDING.value)):
                funded[payload["symbol"]] = max(funded.get(payload["symbol"], 0), payload["through_ms"])
        return StoredState(acct.mode, portfolio, orders, [f.trade_id for f in fills], cursors, breaker,
                           max(peak) if peak else ZERO, fills, protections, baseline, external, last_rec,
                           locks, funded)


def _futures_account(acct: AccountRow, rows: list[PositionRow], positions: dict[str, Position]) -> FuturesAccount:
    """The stored futures account: wallet, leverage, funding, and each position's margin, cost
    basis and funding (its maintenance terms come from the settings, not the store)."""
    account = FuturesAccount(acct.wallet, acct.quote, acct.leverage)
    account.initial_cash, account.fees_paid, account.funding_paid = acct.initial_cash, acct.fees_paid, acct.funding_paid
    for r in rows:
        if r.funding is not None:
            account.funding_by_symbol[r.symbol] = r.funding
        if r.qty:
            account.margin[r.symbol], account.cost[r.symbol] = r.margin, r.cost
    account.restore(positions)
    return account


def status_summary(store: Store) -> dict | None:
    """Everything ``quantd status`` shows, as a JSON-ready dict (money as strings), or None
    for an empty store. Equity and unrealized PnL mark positions at the last processed close."""
    state = load_state(store)
    if state is None:
        return None
    with store.read() as s:
        cursors = list(s.scalars(select(CandleCursorRow)))
        n_orders = s.scalar(select(func.count(OrderRow.id)))
        n_fills = s.scalar(select(func.count(FillRow.id)))
        started = s.scalar(select(func.count(EventRow.id)).where(EventRow.kind == EventKind.STARTUP.value))
        last_eq = s.scalars(select(EquitySnapshotRow).order_by(EquitySnapshotRow.id.desc()).limit(1)).first()
        liquidation = {r.symbol: r.liquidation_price for r in s.scalars(select(PositionRow))}
    p = state.portfolio
    marks = {}
    for c in cursors:
        symbol = c.key.split("|")[1]
        marks[symbol] = c.close
    unrealized = sum(((marks[sym] - pos.avg_price) * pos.qty for sym, pos in p.positions.items()
                      if pos.is_open and sym in marks), ZERO)
    if p.allows_short:  # futures: the wallet plus each position's PnL at the mark (ADR 0017)
        equity = p.wallet + unrealized
    else:
        equity = p.cash + sum((pos.qty * marks.get(sym, pos.avg_price) for sym, pos in p.positions.items()), ZERO)
    with store.read() as s:
        pending = s.scalar(select(func.count(OperatorCommandRow.id)).where(OperatorCommandRow.applied_ts_ms.is_(None)))
    return {
        "mode": state.mode,
        "breaker": {"state": state.breaker.state.value, "reason": state.breaker.reason,
                    "since_ms": state.breaker.since_ms, "pending_commands": pending},
        "cash": str(p.cash), "quote": p.quote, "equity": str(equity),
        "initial_cash": str(p.initial_cash), "pnl": str(equity - p.initial_cash),
        "realized_pnl": str(p.realized_pnl), "unrealized_pnl": str(unrealized), "fees_paid": str(p.fees_paid),
        "positions": [{"symbol": sym, "side": "long" if pos.qty > 0 else "short", "qty": str(pos.qty),
                       "avg_price": str(pos.avg_price), "realized_pnl": str(pos.realized_pnl),
                       **_futures_position(p, sym, liquidation.get(sym))}
                      for sym, pos in p.positions.items() if pos.is_open],
        **_futures_summary(p),
        "open_orders": [{"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value,
                         "status": o.status.value, "qty": str(o.qty or ""), "quote_qty": str(o.quote_qty or "")}
                        for o in state.orders if not o.status.is_terminal],
        "last_candle": {c.key: c.last_ts_ms for c in cursors},
        "orders_total": n_orders, "fills_total": n_fills, "starts": started,
        "last_equity_snapshot_ts": last_eq.ts_ms if last_eq else None,
    }


def _futures_summary(p: Portfolio) -> dict:
    """The account's futures figures for :func:`status_summary` (none on spot)."""
    if not p.allows_short:
        return {"market": "spot"}
    return {"market": "futures", "leverage": str(p.leverage), "wallet": str(p.wallet),
            "margin_used": str(sum(p.margin.values(), ZERO)), "funding_paid": str(p.funding_paid)}


def _futures_position(p: Portfolio, symbol: str, liquidation_price: Decimal | None) -> dict:
    """An open futures position's margin, funding and stored liquidation price (none on spot)."""
    if not p.allows_short:
        return {}
    return {"margin": str(p.margin.get(symbol, ZERO)), "funding": str(p.funding_by_symbol.get(symbol, ZERO)),
            "liquidation_price": str(liquidation_price) if liquidation_price is not None else None}
