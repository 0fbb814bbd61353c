"""RiskManager: every order passes here, and the circuit breaker lives here.

``check`` turns the rules' verdicts into one :class:`RiskDecision` (approve, resize or
reject; a ``halt`` verdict also trips the breaker); ``on_candle`` updates the view and runs
state rules (drawdown, losing streak), which may trip the breaker. Decisions and breaker
changes come back as events for the journal; the manager itself does no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from engine.commands import Verb
from engine.events import BreakerChanged, BreakerTripped, Event, PositionUnprotected, ProtectionSet, RiskDecided
from engine.marks import Marks
from engine.models import ZERO, Fill, Side
from engine.money import PRICE_DP, QTY_DP, price_from_float, quote_float, ratio_pct, to_raw
from engine.risk.base import APPROVE, HALT, REJECT, RESIZE, Proposal, RiskRule, RiskView, RuleName, Verdict
from engine.risk.breaker import BreakerState, CircuitBreaker
from engine.risk.pairlocks import PairLocks
from engine.risk.protection import Protection, ProtectionPolicy
from engine.timeframes import iso_utc

_DAY_MS = 86_400_000
_NO_EVENTS: tuple[Event, ...] = ()
"""What :meth:`RiskManager.on_candle` returns on almost every candle (no new list each time)."""


@dataclass
class RiskDecision:
    """The outcome for one proposal: approved with ``notional_quote`` (maybe resized), or not."""

    approved: bool
    notional_quote: Decimal
    verdicts: list[Verdict] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def reason(self) -> str:
        """The deciding verdict's rule and reason, '' when approved as proposed."""
        return "; ".join(f"{v.rule}: {v.reason}" for v in self.verdicts)


class RiskManager:
    """Pre-trade checks and the circuit breaker for one account.

    Args:
        rules: from :meth:`engine.risk.limits.RiskLimits.build`.
        breaker: the persisted breaker state (running on a fresh store).
        policy: how protective exit levels are set.
        protections: persisted levels of open positions, by symbol.
        flatten_on_halt: a trip also asks for every position to be closed.
        day_start_hour_utc: when the trading day starts, for the daily loss limit.
        pair_locks: the lock rules and the active locks (loaded from the store).
        marks: the shared last closes the rules read (a new set when None).
    """

    def __init__(self, rules: list[RiskRule], breaker: CircuitBreaker | None = None,
                 policy: ProtectionPolicy | None = None, protections: dict[str, Protection] | None = None,
                 flatten_on_halt: bool = False, day_start_hour_utc: int = 0, pair_locks: PairLocks | None = None,
                 marks: Marks | None = None):
        self.rules = rules  # also sets the state rules (the property below)
        self.breaker = breaker or CircuitBreaker()
        self.policy = policy or ProtectionPolicy()
        self.protections: dict[str, Protection] = dict(protections or {})
        self.flatten_on_halt = flatten_on_halt
        self.pair_locks = pair_locks or PairLocks()
        """Per-pair locks after exits (cooldown, stop-loss guard, low profit): no entries while locked."""
        self.day_offset_ms = day_start_hour_utc * 3_600_000
        self.marks = marks if marks is not None else Marks()
        self.view = RiskView(marks=self.marks)
        self._spent: dict[str, Decimal] = {}  # quote paid for the open position, fees included
        self._received: dict[str, Decimal] = {}  # quote received from its partial exits, net of fees

    @property
    def rules(self) -> Sequence[RiskRule]:
        """The pre-trade rules, in the order they are checked. A tuple: a config reload
        assigns new ones, which also re-derives the rules called after every candle."""
        return self._rules

    @rules.setter
    def rules(self, rules: Sequence[RiskRule]) -> None:
        self._rules = tuple(rules)
        # the rules that look at the state after each candle (drawdown, daily loss); the others
        # are not called on every candle
        self._state_rules = tuple(r for r in self._rules if type(r).on_state is not RiskRule.on_state)

    def check(self, p: Proposal) -> RiskDecision:
        """Decide on a proposal. Entries need a running breaker; exits pass every rule that
        does not apply to exits. Raises nothing: a refusal is a decision."""
        verdicts: list[Verdict] = []
        events: list[Event] = []
        current = p
        lock = self.pair_locks.active(p.symbol, p.ts_ms) if p.is_entry and self.pair_locks.locks else None
        if p.is_entry and not self.breaker.allows_entries:
            verdicts.append(Verdict(RuleName.CIRCUIT_BREAKER, REJECT, f"breaker {self.breaker.state.value}: {self.breaker.reason}",
                                    0.0, 0.0))
        elif lock is not None:
            verdicts.append(Verdict(RuleName.PAIR_LOCK, REJECT, f"{p.symbol} locked until {iso_utc(lock.until_ms)} by "
                                                         f"{lock.rule}: {lock.reason}", 0.0, 0.0))
        else:
            for rule in self.rules:
                if not p.is_entry and not rule.applies_to_exits:
                    continue
                v = rule.check(current, self.view)
                if v is None:
                    continue
                verdicts.append(v)
                if v.action == RESIZE:
                    current = current._replace(notional_quote=cast(Decimal, v.notional_quote))  # a resize has one
                    continue
                if v.action == HALT:
                    events += self._trip(v, p.ts_ms)
                break
        approved = not verdicts or all(v.action is not REJECT and v.action is not HALT for v in verdicts)
        notional = current.notional_quote
        last = verdicts[-1] if verdicts else None
        action = (RESIZE if verdicts else APPROVE) if approved else REJECT
        events.insert(0, RiskDecided(p.ts_ms, action, last.rule if last else "", last.reason if last else "",
                                     float(last.value) if last else 0.0, float(last.threshold) if last else 0.0, p.strategy,
                                     p.symbol, p.side, str(p.notional_quote), str(notional if approved else 0)))
        return RiskDecision(approved, notional if approved else Decimal(0), verdicts, events)

    def refuse(self, verdict: Verdict, strategy: str, symbol: str, side: str, ts_ms: int) -> list[Event]:
        """Record a refusal decided outside :meth:`check` (signal sanity) as a decision event."""
        return [RiskDecided(ts_ms, REJECT, verdict.rule, verdict.reason, float(verdict.value), float(verdict.threshold),
                            strategy, symbol, side, "0", "0")]

    def on_candle(self, symbol: str, position_raw: int, equity_raw: int, ts_ms: int) -> Sequence[Event]:
        """Update the view after a candle (``ts_ms``: its open time; the runner has set its
        close in the shared marks) and run state rules.

        Args:
            position_raw: the position's value at that close, raw 1e-20 quote.
            equity_raw: the account's equity, raw 1e-20 quote (:mod:`engine.money`).
        """
        v = self.view
        if position_raw:
            v.position_raw[symbol] = position_raw
        elif symbol in v.position_raw:  # flat: a missing symbol reads as 0
            del v.position_raw[symbol]
        v.equity_raw = equity_raw
        if equity_raw > v.peak_raw:
            v.peak_raw = equity_raw
        day = (ts_ms - self.day_offset_ms) // _DAY_MS
        if day != v.day:
            v.day, v.day_start_raw = day, equity_raw
        if not self._state_rules:
            return _NO_EVENTS
        events: list[Event] = []
        for rule in self._state_rules:
            verdict = rule.on_state(v)
            if verdict is not None and verdict.action == HALT:
                events += self._trip(verdict, ts_ms)
        return events

    def on_fill(self, fill: Fill, position_qty_after: Decimal) -> None:
        """Track entries (for the trade-rate rule; a long's buy or a short's sell), round-trip
        results (for the losing streak and sizing; a short's return is on its entry proceeds)
        and the position's absolute value at its mark (the last close, else the fill's price),
        which later checks in the same candle must see."""
        v = self.view
        close = self.marks.close.get(fill.symbol)
        mark = price_from_float(close) if close is not None else to_raw(fill.price, PRICE_DP)
        self.marks.raw[fill.symbol] = mark
        v.position_raw[fill.symbol] = abs(to_raw(position_qty_after, QTY_DP)) * mark if position_qty_after else 0
        if fill.side is Side.BUY:
            self._spent[fill.symbol] = self._spent.get(fill.symbol, ZERO) + fill.notional + fill.fee
            opening = position_qty_after > 0
        else:
            self._received[fill.symbol] = self._received.get(fill.symbol, ZERO) + fill.notional - fill.fee
            opening = position_qty_after < 0  # a short's entry
        if opening:
            self.view.entry_times.append(fill.ts_ms)
            while len(self.view.entry_times) > 1000:
                self.view.entry_times.popleft()
            return
        if position_qty_after == 0:
            spent = self._spent.pop(fill.symbol, ZERO)
            received = self._received.pop(fill.symbol, ZERO)
            pnl = received - spent
            base = spent if fill.side is Side.SELL else received  # the entry's value: a long's cost, a short's proceeds
            if base > 0:
                self.view.trade_returns.append(float(pnl / base))
            if fill.ts_ms >= self.view.streak_since_ms:
                self.view.consecutive_losses = self.view.consecutive_losses + 1 if pnl < 0 else 0

    def operator(self, command: Verb | str, by: str, ts_ms: int) -> tuple[str, list[Event]]:
        """Apply an operator command: pause, resume, or kill (halt and flatten). Resume also
        clears the losing streak and restarts the drawdown peak from current equity, so a halt
        does not re-trip at once. Returns what happened, in words, and the events (another
        verb or text is answered, not applied)."""
        before = self.breaker.state
        try:
            verb = Verb(command)
        except ValueError:
            verb = None
        if verb is Verb.KILL:
            changed = self.breaker.trip(f"kill switch by {by}", ts_ms, flatten=True)
            text = "halted and flattening: no new entries, open positions are closed at market"
            equity = quote_float(self.view.equity_raw)
            return text, ([BreakerTripped(ts_ms, BreakerState.HALTED.value, self.breaker.reason, by, equity)]
                          if changed else [])
        if verb is Verb.PAUSE:
            text = self.breaker.pause(by, ts_ms)
        elif verb is Verb.RESUME:
            text = self.breaker.resume(by, ts_ms)
            if before is not BreakerState.RUNNING:
                self.view.consecutive_losses, self.view.streak_since_ms = 0, ts_ms
                self.view.peak_raw = self.view.equity_raw
        else:
            return f"unknown command {str(command)!r}: use pause, resume or kill", []
        if self.breaker.state is before:
            return text, []
        equity = quote_float(self.view.equity_raw)
        return text, [BreakerChanged(ts_ms, self.breaker.state.value, self.breaker.reason, by, equity)]

    def protect(self, symbol: str, entry_price: Decimal, atr: float | None, ts_ms: int,
                short: bool = False) -> list[Event]:
        """Set exit levels for a new position (a ``short``'s mirrored); returns the
        ProtectionSet event (check the result with :meth:`verify`)."""
        levels = self.policy.levels(entry_price, atr, short)
        self.protections[symbol] = levels
        return [ProtectionSet(ts_ms, symbol, str(levels.stop_price or ""), str(levels.take_profit_price or ""))]

    def verify(self, symbol: str, ts_ms: int) -> list[Event]:
        """An alert when the position in ``symbol`` lacks the stop the policy asks for."""
        prot = self.protections.get(symbol)
        if self.policy.wants_stop and (prot is None or prot.stop_price is None):
            return [PositionUnprotected(ts_ms, symbol, f"open position {symbol} has no active stop")]
        return []

    def snapshot(self) -> dict:
        """Limits, utilisation and breaker state, JSON-ready (for status and the bot)."""
        v = self.view
        dd = ratio_pct(v.peak_raw - v.equity_raw, v.peak_raw) if v.peak_raw > 0 else 0.0
        return {
            "breaker": {"state": self.breaker.state.value, "reason": self.breaker.reason, "since_ms": self.breaker.since_ms},
            "rules": [r.describe() for r in self.rules],
            "equity": quote_float(v.equity_raw), "peak_equity": quote_float(v.peak_raw), "drawdown_pct": dd,
            "gross_exposure": quote_float(v.gross_exposure), "open_positions": v.open_positions,
            "consecutive_losses": v.consecutive_losses,
            "flatten_pending": self.breaker.flatten_pending,
            "protections": {s: {"stop": str(p.stop_price), "take_profit": str(p.take_profit_price)}
                            for s, p in self.protections.items()},
        }

    def _trip(self, verdict: Verdict, ts_ms: int) -> list[Event]:
        reason = f"{verdict.rule}: {verdict.reason}"
        if not self.breaker.trip(reason, ts_ms, flatten=self.flatten_on_halt):
            return []
        return [BreakerTripped(ts_ms, BreakerState.HALTED.value, reason, verdict.rule, quote_float(self.view.equity_raw))]
