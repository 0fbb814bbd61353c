"""Reconciliation: the store's view against the exchange's, on start-up and every N seconds.

Every discrepancy becomes an :class:`Issue`, an event (for alerts) and a row in the store;
nothing is fixed silently. The decisions are pure functions of (store state, exchange
report); :class:`Reconciler` fetches the reports and applies the results.

Cases, per order the store holds as working (``new``, ``open``, ``partially_filled``):

* the exchange has more fills, or a final status (filled, canceled or expired while we were
  down): the missing fills and the status are applied through the OMS
  (``order_changed_while_away``);
* the exchange does not know an acknowledged order: it is marked ``expired`` with the reason
  (``unknown_on_venue``); an unacknowledged (``new``) one follows the submission protocol
  instead (looked up, resent only if provably absent);
* the exchange cannot answer: nothing is decided, the next run tries again.

Per symbol, open orders on the exchange that the store does not know (placed by hand or by
another program) are reported once each (``external_order``) and never touched, unless
``adopt_external_orders`` is on: then a limit order the daemon's own cash (buy) or position
(sell) covers is adopted, i.e. stored as an order of strategy ``external`` with its fills so
far, and managed from then on like the daemon's own (polled, booked, canceled on a halt).
One the daemon cannot cover is reported and left alone, so an adoption can never book a
fill the account cannot pay for.

Balances: the expected total of each traded asset is its balance when the live account was
created (the baseline) plus the net effect of every stored fill. A difference beyond the
tolerance is a ``balance_drift``: alert and trip the circuit breaker (halted), because the
daemon no longer knows what it holds. It is checked only when no order is unacknowledged.

The candle cursor (last processed candle per strategy) is the store's; it is reported so an
operator sees that no candle will be handled twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from engine.errors import VenueError, VenueUnavailable
from engine.events import BreakerTripped, Event, ExternalOrder, ReconciliationDrift
from engine.models import EXTERNAL_STRATEGY, ZERO, Fill, Order, OrderStatus, OrderType, OrderUpdate, Side
from engine.money import quote_float
from engine.oms import OrderManager
from engine.risk.manager import RiskManager

log = logging.getLogger("quantd.reconcile")

ISSUE_KINDS = ("order_changed_while_away", "unknown_on_venue", "external_order", "balance_drift")


class ReconcileVenue(Protocol):
    """What reconciliation needs from the exchange (the ccxt gateway implements it)."""

    def fetch_order(self, order: Order) -> OrderUpdate | None: ...

    def fetch_open_orders(self, symbol: str) -> list: ...

    def fetch_balances(self) -> dict[str, Decimal]: ...


@dataclass(frozen=True)
class Issue:
    """One discrepancy. ``detail`` holds both sides' values as strings."""

    kind: str
    symbol: str = ""
    client_order_id: str = ""
    action: str = ""
    detail: dict = field(default_factory=dict)

    def event(self, ts_ms: int) -> Event:
        """The alert-ready event of this issue."""
        if self.kind == "external_order":
            d = self.detail
            return ExternalOrder(ts_ms, self.symbol, d.get("exchange_order_id", ""), self.client_order_id,
                                 d.get("side", ""), d.get("amount", ""), d.get("price", ""), self.action)
        text = ", ".join(f"{k}={v}" for k, v in self.detail.items())
        return ReconciliationDrift(ts_ms, self.kind, self.symbol, self.client_order_id, self.action, text)


@dataclass
class Report:
    """What one reconciliation run saw and did."""

    ts_ms: int
    issues: list[Issue] = field(default_factory=list)
    orders_checked: int = 0
    complete: bool = True
    """False when the exchange could not answer part of the run."""


def order_issue(order: Order, venue: OrderUpdate | None) -> Issue | None:
    """Compare a working order with the exchange's report of it (None: the exchange does not
    know it). Returns the issue, or None when they agree."""
    if venue is None:
        if order.status is OrderStatus.NEW:
            return None  # the submission protocol resolves it
        return Issue("unknown_on_venue", order.symbol, order.client_order_id, "marked expired",
                     {"store_status": order.status.value, "venue": "order does not exist"})
    venue_filled = sum((f.qty for f in venue.fills), ZERO)
    if venue.status is order.status and venue_filled <= order.filled_qty:
        return None
    return Issue("order_changed_while_away", order.symbol, order.client_order_id,
                 f"applied the exchange's state {venue.status.value}",
                 {"store_status": order.status.value, "store_filled": str(order.filled_qty),
                  "venue_status": venue.status.value, "venue_filled": str(venue_filled)})


ADOPTION_FEE_MARGIN = Decimal("0.01")
"""Share of an adopted buy's notional kept back for fees when checking the cash covers it."""


def adoption_refusal(vo, portfolio, working: list[Order]) -> str:
    """Why an external open order cannot be adopted ('' when it can): only limit orders
    (a price to bound the cost), and only what the daemon's free cash (buy: ``amount * price``
    plus :data:`ADOPTION_FEE_MARGIN`) or free position (sell) covers; "free" is net of the
    daemon's own working orders on the symbol."""
    remaining = vo.amount - vo.filled
    if vo.price <= 0:
        return "it has no limit price"
    if vo.side == "buy":
        reserved = sum((o.quote_qty or (o.qty or ZERO) * (o.price or ZERO)) for o in working if o.side is Side.BUY)
        need = remaining * vo.price * (1 + ADOPTION_FEE_MARGIN)
        free = portfolio.cash - reserved
        return "" if need <= free else f"it needs {need} {portfolio.quote}, the daemon's free cash is {free}"
    reserved = sum(((o.qty or ZERO) - o.filled_qty for o in working if o.side is Side.SELL), ZERO)
    free = portfolio.position(vo.symbol).qty - reserved
    return "" if remaining <= free else f"it sells {remaining}, the daemon's free position is {free}"


def fill_deltas(fill: Fill, quote: str) -> dict[str, Decimal]:
    """The change a fill makes to each asset's exchange balance (base and quote units)."""
    base = fill.symbol.split("/")[0]
    sign = 1 if fill.side is Side.BUY else -1
    deltas = {base: sign * fill.qty, quote: -sign * fill.qty * fill.price}
    fee_asset = fill.fee_asset or quote
    deltas[fee_asset] = deltas.get(fee_asset, ZERO) - fill.fee
    return deltas


def balance_issues(expected: dict[str, Decimal], actual: dict[str, Decimal], tolerance_pct: Decimal,
                   min_abs: dict[str, Decimal]) -> list[Issue]:
    """Assets whose exchange total differs from the expected one by more than
    ``max(tolerance_pct% of expected, min_abs[asset])``."""
    issues = []
    for asset, want in sorted(expected.items()):
        have = actual.get(asset, ZERO)
        drift = have - want
        allowed = max(abs(want) * tolerance_pct / 100, min_abs.get(asset, ZERO))
        if abs(drift) > allowed:
            issues.append(Issue("balance_drift", asset, "", "circuit breaker halted",
                                {"asset": asset, "expected": str(want), "exchange": str(have), "drift": str(drift),
                                 "tolerance": str(allowed)}))
    return issues


class Reconciler:
    """Runs reconciliation against a venue and applies its results.

    Args:
        oms: the order manager (its orders and portfolio are the store's view).
        venue: the exchange.
        journal: the SQL journal (``reconciliation_recorded``).
        risk: the risk manager whose breaker a balance drift trips.
        symbols: the traded symbols.
        baseline: asset -> total balance when the live account was created.
        fills: every stored fill, oldest first.
        tolerance_pct: allowed balance difference, percent of the expected total.
        min_abs: per asset, an absolute floor of the tolerance (e.g. the amount step).
        reported_external: exchange order ids already reported (from the store).
        adopt_external: adopt external orders the account covers (see the module docstring).
    """

    def __init__(self, oms: OrderManager, venue: ReconcileVenue, journal, risk: RiskManager, symbols: list[str],
                 baseline: dict[str, Decimal], fills: list[Fill], tolerance_pct: Decimal,
                 min_abs: dict[str, Decimal] | None = None, reported_external: set[str] | None = None,
                 adopt_external: bool = False):
        self.oms, self.venue, self.journal, self.risk = oms, venue, journal, risk
        self.symbols = symbols
        self.quote = oms.portfolio.quote
        self.expected = dict(baseline)
        self.tolerance_pct = tolerance_pct
        self.min_abs = min_abs or {}
        self.reported_external = set(reported_external or ())
        self.adopt_external = adopt_external
        self._drift_seen: dict[str, str] = {}
        self._everything = False
        self.last_report: Report | None = None
        for fill in fills:
            self._book(fill, None)
        oms.fill_listeners.append(self._book)

    def _book(self, fill: Fill, _position) -> None:
        for asset, delta in fill_deltas(fill, self.quote).items():
            self.expected[asset] = self.expected.get(asset, ZERO) + delta

    def run(self, now_ms: int, everything: bool = False) -> Report:
        """One reconciliation pass; returns its report (also kept as ``last_report``).
        ``everything``: an operator's ``/reconcile``: external orders and balance drifts
        already reported are reported again (each periodic run reports them once)."""
        self._everything = everything
        report = Report(now_ms)
        self.oms.recover(now_ms)
        self._check_orders(report)
        for symbol in self.symbols:
            report.issues.extend(self._external(symbol, report))
        if report.complete and not any(o.status is OrderStatus.NEW for o in self.oms.open_orders()):
            report.issues.extend(self._balances(report))
        self._record(report)
        self.last_report = report
        return report

    def _check_orders(self, report: Report) -> None:
        """Compare every working order with the exchange's view and apply the differences."""
        now_ms = report.ts_ms
        for order in list(self.oms.open_orders()):
            report.orders_checked += 1
            try:
                venue = self.venue.fetch_order(order)
            except (VenueUnavailable, VenueError) as exc:
                log.warning("reconciliation: order %s not checked: %s", order.client_order_id, exc)
                report.complete = False
                continue
            issue = order_issue(order, venue)
            if issue is None:
                continue
            report.issues.append(issue)
            if issue.kind == "unknown_on_venue":
                venue = OrderUpdate(order.client_order_id, OrderStatus.EXPIRED, order.exchange_order_id,
                                    "unknown on the exchange at reconciliation")
            self.oms.apply_update(order, venue, now_ms)

    def _external(self, symbol: str, report: Report) -> list[Issue]:
        try:
            open_orders = self.venue.fetch_open_orders(symbol)
        except (VenueUnavailable, VenueError) as exc:
            log.warning("reconciliation: open orders of %s not checked: %s", symbol, exc)
            report.complete = False
            return []
        issues = []
        for vo in open_orders:
            if vo.client_order_id in self.oms.orders or (vo.exchange_order_id in self.reported_external
                                                         and not self._everything):
                continue
            action = self._adopt(vo, report) if self.adopt_external else "left alone"
            if action is None:
                continue  # the exchange did not answer: try again on the next run
            self.reported_external.add(vo.exchange_order_id)
            issues.append(Issue("external_order", symbol, vo.client_order_id, action,
                                {"exchange_order_id": vo.exchange_order_id, "side": vo.side, "amount": str(vo.amount),
                                 "price": str(vo.price), "status": vo.status.value}))
        return issues

    def _adopt(self, vo, report: Report) -> str | None:
        """Adopt one external order if the account covers it; returns the action taken (None:
        the exchange did not answer the lookup, nothing was decided)."""
        refusal = adoption_refusal(vo, self.oms.portfolio, self.oms.open_orders(vo.symbol))
        breaker = self.risk.breaker
        if vo.side == "buy" and not breaker.allows_entries:  # adopting it would only cancel it
            refusal = f"the circuit breaker is {breaker.state.value}: no new entries"
        if refusal:
            return f"left alone: not adopted, {refusal}"
        order = Order(client_order_id=vo.client_order_id, strategy=EXTERNAL_STRATEGY, symbol=vo.symbol, side=Side(vo.side),
                      type=OrderType.LIMIT, signal_ts_ms=report.ts_ms, created_ts_ms=report.ts_ms,
                      updated_ts_ms=report.ts_ms, qty=vo.amount, price=vo.price,
                      intent=f"external order {vo.exchange_order_id} adopted", exchange_order_id=vo.exchange_order_id)
        try:
            update = self.venue.fetch_order(order)
        except (VenueUnavailable, VenueError) as exc:
            log.warning("reconciliation: external order %s not adopted yet: %s", vo.exchange_order_id, exc)
            report.complete = False
            return None
        if update is None:
            return "left alone: gone from the exchange before it could be adopted"
        self.oms.adopt(order, update, report.ts_ms)
        return "adopted: quantd manages it from now on"

    def adopt_one(self, exchange_order_id: str, now_ms: int) -> str:
        """An operator's Adopt of one external open order (``/reconcile``): adopted when the
        daemon's free cash or position covers it (:func:`adoption_refusal`); returns what
        happened, in words."""
        report = Report(now_ms)
        for symbol in self.symbols:
            try:
                found = [vo for vo in self.venue.fetch_open_orders(symbol) if vo.exchange_order_id == exchange_order_id]
            except (VenueUnavailable, VenueError) as exc:
                return f"not adopted: the exchange did not answer ({exc})"
            if found:
                vo = found[0]
                if vo.client_order_id in self.oms.orders:
                    return f"order {exchange_order_id} is already quantd's ({vo.client_order_id})"
                action = self._adopt(vo, report)
                return action or "not adopted: the exchange did not answer; try again"
        return f"not adopted: no open order {exchange_order_id} on {', '.join(self.symbols)}"

    def rebaseline(self, now_ms: int) -> tuple[dict[str, Decimal], str]:
        """An operator's Accept of a balance drift: each drifting asset's baseline moves by the
        drift, so the exchange's balance becomes the expected one (the difference is not the
        daemon's: a deposit, a withdrawal, a trade by hand). Returns (asset -> shift, words)."""
        try:
            actual = self._actual()
        except (VenueUnavailable, VenueError) as exc:
            return {}, f"nothing changed: the exchange did not answer ({exc})"
        found = balance_issues(self._expected(), actual, self.tolerance_pct, self.min_abs)
        shifts = {i.symbol: Decimal(i.detail["drift"]) for i in found}
        for asset, shift in shifts.items():
            self.expected[asset] += shift
        self._drift_seen = {}
        if not shifts:
            return {}, "no balance drift now: nothing to accept"
        return shifts, "re-baselined: " + "; ".join(f"{a} {s:+f} (exchange {actual.get(a, ZERO)})"
                                                      for a, s in sorted(shifts.items()))

    def _balances(self, report: Report) -> list[Issue]:
        """Balance drifts. A resting order (a stop on the exchange, a limit) can fill between
        the order checks and the balance read: when a drift shows and orders are working, they
        are checked again and the balances read again; only a drift that remains counts."""
        for attempt in range(2):
            try:
                actual = self._actual()
            except (VenueUnavailable, VenueError) as exc:
                log.warning("reconciliation: balances not checked: %s", exc)
                report.complete = False
                return []
            found = balance_issues(self._expected(), actual, self.tolerance_pct, self.min_abs)
            if not found or attempt == 1 or not self.oms.open_orders():
                break
            self._check_orders(report)  # a fill between the two reads is booked, not called a drift
            if not report.complete:
                return []
        new = found if self._everything else [i for i in found if self._drift_seen.get(i.symbol) != i.detail["drift"]]
        self._drift_seen = {i.symbol: i.detail["drift"] for i in found}
        return new

    def _expected(self) -> dict[str, Decimal]:
        """What the exchange should report: asset -> total (spot: baseline plus every fill)."""
        return self.expected

    def _actual(self) -> dict[str, Decimal]:
        """What the exchange reports, keyed as :meth:`_expected`."""
        return self.venue.fetch_balances()

    def _record(self, report: Report) -> None:
        events: list[Event] = [i.event(report.ts_ms) for i in report.issues]
        drift = [i for i in report.issues if i.kind == "balance_drift"]
        if drift:
            reason = "balance drift: " + "; ".join(
                f"{i.symbol} exchange {i.detail['exchange']} vs expected {i.detail['expected']}" for i in drift)
            if self.risk.breaker.trip(reason, report.ts_ms):
                events.append(BreakerTripped(report.ts_ms, self.risk.breaker.state.value, reason, "reconciliation",
                                             quote_float(self.risk.view.equity_raw)))
        for issue in report.issues:
            log.warning("reconciliation: %s %s %s: %s (%s)", issue.kind, issue.symbol, issue.client_order_id,
                        issue.action, issue.detail)
        self.journal.reconciliation_recorded(report.issues, events, self.risk.breaker, report.ts_ms)
        self.oms.events.emit(events)
        if drift and not self.risk.breaker.allows_entries:
            self.oms.cancel_entries("circuit breaker halted: balance drift", report.ts_ms)
