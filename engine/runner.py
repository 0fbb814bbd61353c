"""The flow of one candle, shared by the backtester and the daemon.

For each closed candle of its symbol a :class:`StrategyRunner`:

1. books the venue's updates (fills of orders resting since earlier candles);
2. asks the strategy for a signal, seeing only candles up to this one;
3. turns a signal into an order when it fits the position (BUY when flat, SELL when long,
   nothing while an order is working), sized by the sizer;
   passed through the :class:`~engine.risk.manager.RiskManager` (no order bypasses it);
4. marks equity at the close, lets risk update its view (which may trip the circuit breaker), and
   records the candle as processed with an equity snapshot.

A quiet candle (nothing working on the venue, nothing held) costs the strategy, a few dict
lookups and one integer equity: the OMS asks the venue only while an order works (or when
the venue wants every candle), and money is fixed-point (:mod:`engine.money`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from engine.approvals import EntryApprovals
from engine.decision import Decision, Outcome
from engine.events import EventSink
from engine.exit_levels import ExitLevels
from engine.futures import FuturesAccount
from engine.futures_candle import FuturesCandle
from engine.marks import Marks
from engine.models import ZERO, Candle, Fill, Instrument, OrderType, Position, Side, Signal
from engine.money import PRICE_DP, PRICE_ONE, QTY_DP, QTY_ONE, price_from_float, quote_decimal, quote_raw, to_raw
from engine.native_stop import NativeStop
from engine.oms import OrderManager
from engine.ports import Journal
from engine.risk.base import Proposal
from engine.risk.manager import RiskManager
from engine.risk.signal_sanity import check_signal
from engine.risk.sizing import FixedQuote, SizingContext, StakeSizer
from engine.strategy.base import Strategy, StrategyContext
from engine.strategy.indicators import ATR
from engine.timeframes import timeframe_to_ms


class StrategyRunner:
    """One strategy on one symbol and timeframe.

    Args:
        strategy: the strategy instance (its indicator state lives here).
        symbol, timeframe: e.g. "BTC/USDT", "5m".
        oms: order manager (with the portfolio).
        sizer: entry sizing.
        journal: where processed candles are recorded.
        risk: the risk manager every order passes.
        instrument: the market's amount step and minimum notional; a remainder that cannot be
            sold under them (dust, e.g. left by a fee taken in the base currency) counts as flat.
        marks: the shared last closes (:mod:`engine.marks`; default: the risk manager's).
        events: the shared sink of persisted events (default: the OMS's).
    """

    def __init__(self, strategy: Strategy, symbol: str, timeframe: str, oms: OrderManager,
                 sizer: StakeSizer, journal: Journal, risk: RiskManager, instrument: Instrument | None = None,
                 marks: Marks | None = None, events: EventSink | None = None):
        self.strategy = strategy
        self.instrument = instrument or Instrument(symbol)
        self.symbol = symbol
        self.timeframe = timeframe
        self.tf_ms = timeframe_to_ms(timeframe)
        self.oms = oms
        self.sizer = sizer
        self.journal = journal
        self.risk = risk
        self.marks = marks if marks is not None else risk.marks
        self.events = events if events is not None else oms.events
        self.key = f"{strategy.name}|{symbol}|{timeframe}"
        self._ctx = StrategyContext(symbol, timeframe)
        self.atr = ATR(14)
        self._keep_atr = False
        """ATR(14) is updated only when the sizer or an exit level reads it (value None otherwise;
        set by :meth:`settings_changed`)."""
        self.settings_changed()
        self._last_signal: object = None  # last non-None signal
        self._repeat_reported = False
        self.entries_blocked: str | None = None
        """Why new entries are stopped for this symbol (stale data), None when they are not."""
        self.approvals: EntryApprovals | None = None
        """Set when every strategy entry waits for an operator's approval (``telegram.approve_entries``)."""
        self.native_stop = NativeStop(oms, strategy.name, self.instrument, risk.policy.stop_limit_offset_pct) \
            if risk.policy.stop_on_exchange else None
        """The stop-loss resting on the venue (``risk.stop_on_exchange``), None when the engine enforces it."""
        self.exits = ExitLevels(symbol, self.tf_ms, oms, risk, journal, self.events, self.native_stop, self.sellable,
                                self.atr)
        """The position's protective exits (:mod:`engine.exit_levels`)."""
        self._records_candles = journal.records_candles
        self._unconstrained = not self.instrument.amount_step and not self.instrument.min_notional
        """No amount step and no minimum notional: any quantity held is sellable (backtests)."""
        self._futures = oms.portfolio.allows_short
        """A futures account (:class:`~engine.futures.FuturesAccount`): shorts, leverage, funding
        and liquidation; False on spot, whose candles skip all of it."""
        self.futures = FuturesCandle(symbol, strategy.name, self.tf_ms, oms, journal, self.events) \
            if self._futures else None
        """A futures account's liquidation, funding and liquidation warning
        (:mod:`engine.futures_candle`; its ``funding`` and ``liquidation_alert_pct`` are set by
        the caller); None on spot."""
        self._reverse_to: Signal | None = None
        """The side to enter once flat: an entry signal against an open position closes it first."""
        oms.fill_listeners.append(self._on_fill)

    def settings_changed(self) -> bool:
        """Re-derive what the runner keeps from its sizer and the risk policy, after a reload
        replaced either. Returns True when ATR(14) starts to be kept now: it warms over the
        next 14 candles, and until then an ATR-based exit level or stake is not set."""
        keep = self.sizer.needs_atr or self.risk.policy.uses_atr
        started = keep and not self._keep_atr
        self._keep_atr = keep
        return started

    def warmup(self, candles: list[Candle]) -> None:
        """Feed already-processed candles to the strategy so its indicators match; no orders."""
        for candle in candles:
            if self._keep_atr:
                self.atr.update(candle.high, candle.low, candle.close)
            self.strategy.on_candle(candle, self._ctx)
        if candles:
            self.marks.set(self.symbol, candles[-1].close)  # this market's mark for equity

    def equity_at(self, close: float) -> Decimal:
        """The account's equity (quote) with this market marked at ``close`` and every other
        at its last processed close (the shared :class:`~engine.marks.Marks`)."""
        marks = {**self.marks.raw, self.symbol: price_from_float(close)}
        return quote_decimal(self.oms.portfolio.equity_raw(marks))

    def on_candle(self, candle: Candle, now_ms: int | None = None) -> Decision | None:
        """Process one closed candle (steps 1-3); ``now_ms`` defaults to the candle's close time.

        On a quiet candle (no order working anywhere, a venue that needs no candle, no stop on
        the venue) the venue is not asked: nothing could have filled."""
        now = candle.ts_ms + self.tf_ms if now_ms is None else now_ms
        oms = self.oms
        if oms.idle and self.native_stop is None:
            working = False
        else:
            oms.sync(self.symbol, candle, now)
            if self.native_stop is not None and self.exits.keep_native_stop(candle, now):
                oms.sync(self.symbol, candle, now)  # a stop placed right after this candle's entry fill may trigger on it
            working = self.exits.working()
        portfolio = oms.portfolio
        futures = self.futures
        if futures is None:
            pass
        elif self.symbol in portfolio.held:
            liquidation = futures.held(candle, now)
            if liquidation is not None:  # the strategy still sees the candle (its indicators stay in step)
                self._reverse_to = None
                self._ctx.position_qty, self._ctx.has_open_order = 0.0, working
                if self._keep_atr:
                    self.atr.update(candle.high, candle.low, candle.close)
                self.strategy.on_candle(candle, self._ctx)
                return Decision(self._last_signal, Outcome.ORDERED, str(liquidation.status),
                                liquidation.client_order_id)
        else:
            futures.flat()
        qty_raw = portfolio.held.get(self.symbol)
        ctx = self._ctx
        ctx.position_qty = qty_raw / QTY_ONE if qty_raw else 0.0
        ctx.has_open_order = working
        if self._keep_atr:
            self.atr.update(candle.high, candle.low, candle.close)
        signal = self.strategy.on_candle(candle, ctx)
        if qty_raw is None:
            holding = False
        elif self._unconstrained:  # any quantity held is sellable: no need to look at the position
            holding = True
        else:
            holding = self.sellable(portfolio.position(self.symbol), candle.close) > 0
        if signal is None:  # check_signal passes None: only a forced exit or a reversal can act
            if holding and not working:
                reason = self.exits.forced_exit(candle)
                if reason:
                    return self._exit(candle, now, portfolio.position(self.symbol), reason)
            elif self._reverse_to is not None and not working:
                side, self._reverse_to = self._reverse_to, None
                return self._enter(candle, now) if side is Signal.BUY else self._enter_short(candle, now)
            return None
        self._reverse_to = None  # the latest signal wins
        short = holding and qty_raw is not None and qty_raw < 0
        previous = self._last_signal
        verdict = check_signal(signal, holding, previous, self._repeat_reported, short)
        self._repeat_reported = signal is previous and (self._repeat_reported or verdict is not None)
        self._last_signal = signal
        if verdict is not None:
            side_text = signal.value if isinstance(signal, Signal) else ""
            events = self.risk.refuse(verdict, self.strategy.name, self.symbol, side_text, now)
            self.journal.risk_recorded(events, self.risk.breaker)
            self.events.emit(events)
            return Decision(signal, Outcome.REJECTED, f"{verdict.rule}: {verdict.reason}")
        if holding and not working:
            reason = self.exits.forced_exit(candle)
            if reason:
                return self._exit(candle, now, portfolio.position(self.symbol), reason)
        if working:
            return Decision(signal, Outcome.IGNORED, "an order is working")
        if signal is Signal.BUY:
            if not holding:
                return self._enter(candle, now)
            if short:
                return self._reverse(candle, now, signal)
        elif signal is Signal.SELL:
            if holding and not short:
                return self._exit(candle, now, portfolio.position(self.symbol))
        elif not self._futures:
            return Decision(signal, Outcome.REJECTED, f"{signal.name}: spot is long-only; shorts need a futures "
                                                      "account (backtest --market futures)")
        elif signal is Signal.ENTER_SHORT:
            if not holding:
                return self._enter_short(candle, now)
            if not short:
                return self._reverse(candle, now, signal)
        elif short:  # EXIT_SHORT
            return self._exit(candle, now, portfolio.position(self.symbol))
        return Decision(signal, Outcome.IGNORED,
                        "position already " + (("short" if short else "open") if holding else "flat"))

    def _reverse(self, candle: Candle, now: int, signal: Signal) -> Decision:
        """An entry against the open position: close it now; the new side is entered on the
        first candle this runner sees it flat (two orders, never a flip in one)."""
        decision = self._exit(candle, now, self.oms.portfolio.position(self.symbol),
                              f"{self.strategy.describe()} {signal.name}: reverse")
        if decision.outcome is Outcome.ORDERED:
            self._reverse_to = signal
        return decision

    def sellable(self, pos: Position, price: float | Decimal) -> Decimal:
        """Base quantity of ``pos`` that can be closed (sold when long, bought back when
        short), unsigned: rounded down to the amount step, and 0 when worth less than the
        minimum notional at ``price`` (dust)."""
        if not pos.qty:
            return ZERO
        qty = abs(pos.qty)
        qty = self.instrument.round_qty(qty) if self.instrument.amount_step else qty
        if qty <= 0:
            return ZERO
        if self.instrument.min_notional and qty * (Decimal(repr(price)) if isinstance(price, float) else price) \
                < self.instrument.min_notional:
            return ZERO
        return qty

    def finish_candle(self, candle: Candle) -> int:
        """Step 4: mark equity at the close, update risk, record the candle; returns equity in
        raw 1e-20 quote (:mod:`engine.money`; :func:`~engine.money.quote_float` for a curve)."""
        portfolio = self.oms.portfolio
        marks = self.marks
        held = portfolio.held
        symbol = self.symbol
        qty_raw = held.get(symbol, 0)
        close = candle.close
        marks.close[symbol] = close
        if qty_raw:
            mark = marks.raw[symbol] = round(close * PRICE_ONE)  # money.price_from_float, inlined
            position_raw = qty_raw * mark  # signed: below 0 for a short
            equity = portfolio.cash_raw + position_raw if len(held) == 1 else portfolio.equity_raw(marks.raw)
            if position_raw < 0:  # a short: risk limits read the exposure
                position_raw = -position_raw
        else:  # the raw form is needed only while held
            position_raw = 0
            equity = portfolio.equity_raw(marks.raw) if held else portfolio.cash_raw
        risk = self.risk
        events = risk.on_candle(symbol, position_raw, equity, candle.ts_ms)
        if qty_raw:
            if risk.policy.trailing_stop_pct is not None:
                self.exits.trail(candle)
        elif risk.breaker.flatten_pending and not self.oms.open_orders(symbol):
            risk.breaker.flatten_pending = False  # flat: nothing left to close
            self.journal.risk_recorded([], risk.breaker)
        if events:
            tripped = list(events)
            self.journal.risk_recorded(tripped, risk.breaker)
            self.events.emit(tripped)
            self.oms.cancel_entries("circuit breaker halted", candle.ts_ms + self.tf_ms)  # every market's
        if self._records_candles:
            self.journal.candle_processed(self.key, candle, candle.ts_ms + self.tf_ms, portfolio, equity)
        return equity

    def pending_entries(self) -> dict[str, int]:
        """Raw 1e-20 quote notional of every working entry (a buy; on futures an order by quote
        notional, either side), any symbol, by symbol: the unfilled part valued at its limit
        price, else at the symbol's last close (an order by cost: the cost not yet spent)."""
        pending: dict[str, int] = {}
        closes = self.marks.close
        futures = self._futures
        for order in self.oms.open_orders():
            if order.quote_qty is None and (futures or order.side is not Side.BUY):
                continue  # an exit: a sell by quantity (on futures, any order by quantity)
            if order.quote_qty is not None:
                value = max(0, quote_raw(order.quote_qty - order.avg_fill_price * order.filled_qty))
            else:
                if order.price:
                    price = to_raw(order.price, PRICE_DP)
                else:
                    close = closes.get(order.symbol)
                    price = 0 if close is None else price_from_float(close)
                value = to_raw((order.qty or 0) - order.filled_qty, QTY_DP) * price
            pending[order.symbol] = pending.get(order.symbol, 0) + value
        return pending

    def _decide(self, side: Side, notional: Decimal, candle: Candle, now: int, is_entry: bool):
        proposal = Proposal(self.strategy.name, self.symbol, side, is_entry, notional, candle.close, now,
                            candle.ts_ms + self.tf_ms)
        self.risk.view.pending_raw = self.pending_entries()
        decision = self.risk.check(proposal)
        if not decision.approved:  # an approval is stored with the order it creates: one commit
            self.journal.risk_recorded(decision.events, self.risk.breaker)
        self.events.emit(decision.events)
        return decision

    def manual_buy(self, candle: Candle, now: int, quote: Decimal | None, intent: str, key_ts: int) -> Decision:
        """An operator's buy at market: ``quote`` notional (None: the configured stake), capped
        to the cash, through the risk manager like any entry; keyed to ``key_ts``. Refused
        while a futures position is short (an entry by notional could cross zero: the buy-back
        is an exit, ``/flatten``)."""
        if self._futures and self.oms.portfolio.position(self.symbol).qty < 0:
            return Decision(Signal.BUY, Outcome.IGNORED, "the position is short: /flatten buys it back")
        return self._enter(candle, now, quote, intent, key_ts)

    def manual_sell(self, candle: Candle, now: int, share: Decimal, intent: str, key_ts: int,
                    limit_price: Decimal | None = None) -> Decision:
        """An operator's sell of ``share`` (0..1] of the sellable position, at market or as a
        limit order at ``limit_price`` (quote per base), through risk like any exit. Refused
        while a futures position is short: it would buy back, which is ``/flatten``'s."""
        pos = self.oms.portfolio.position(self.symbol)
        if self._futures and pos.qty < 0:
            return Decision(Signal.SELL, Outcome.IGNORED, "the position is short: /flatten buys it back")
        if self.sellable(pos, candle.close) <= 0:
            return Decision(Signal.SELL, Outcome.IGNORED, "no position")
        return self._exit(candle, now, pos, intent, key_ts, share, limit_price)

    def _enter(self, candle: Candle, now: int, quote: Decimal | None = None, intent: str | None = None,
               key_ts: int | None = None) -> Decision:
        if self.entries_blocked:
            return Decision(Signal.BUY, Outcome.IGNORED, self.entries_blocked)
        notional = self._entry_notional(candle, quote)
        if notional <= Decimal(0):
            return Decision(Signal.BUY, Outcome.IGNORED, "no cash")
        decision = self._decide(Side.BUY, notional, candle, now, is_entry=True)
        if not decision.approved:
            return Decision(Signal.BUY, Outcome.REJECTED, decision.reason)
        if self.approvals is not None and intent is None:  # a strategy's entry waits for the operator
            entry, events = self.approvals.hold(self.symbol, decision.notional_quote,
                                                f"{self.strategy.describe()} BUY", now)
            self.journal.risk_recorded(decision.events + events, self.risk.breaker)
            self.events.emit(events)
            return Decision(Signal.BUY, Outcome.WAITING, f"for approval {entry.id}")
        order = self.oms.submit(strategy=self.strategy.name, symbol=self.symbol, side=Side.BUY,
                                signal_ts_ms=candle.ts_ms if key_ts is None else key_ts, now_ms=now,
                                quote_qty=decision.notional_quote, intent=intent or f"{self.strategy.describe()} BUY",
                                events=decision.events)
        if self.native_stop is not None and order.filled_qty > 0:  # a live venue filled it at once: protect now
            self.exits.keep_native_stop(candle, now)
        return Decision(Signal.BUY, Outcome.ORDERED, str(order.status), order.client_order_id)

    def _entry_notional(self, candle: Candle, quote: Decimal | None = None) -> Decimal:
        """Quote notional of an entry: the sizer's (or ``quote``, an operator's amount, capped the
        same way) from the cash and the equity at ``candle``'s close; on a futures account the
        stake is margin, so the position is leverage times it, up to the largest position the
        market's tiers allow at that leverage."""
        portfolio = self.oms.portfolio
        sizer = self.sizer if quote is None else FixedQuote(self.sizer.fee_rate, quote)
        sizing = SizingContext(portfolio.cash, self.equity_at(candle.close) if sizer.needs_equity else None,
                               candle.close, self.atr.value, self.risk.view.trade_returns)
        notional = sizer.entry_notional(sizing)
        if not self._futures:
            return notional
        account = cast(FuturesAccount, portfolio)
        notional *= account.leverage
        tiers = account.tiers_of(self.symbol)
        if tiers is not None:  # the venue's tiers cap the position at this leverage
            notional = min(notional, tiers.max_notional(account.leverage))
        return notional

    def _enter_short(self, candle: Candle, now: int) -> Decision:
        """Open a short on a futures account: a sell of the sized notional (stake x leverage),
        through risk as an entry; the venue sizes the quantity at its fill price."""
        if self.entries_blocked:
            return Decision(Signal.ENTER_SHORT, Outcome.IGNORED, self.entries_blocked)
        notional = self._entry_notional(candle)
        if notional <= 0:
            return Decision(Signal.ENTER_SHORT, Outcome.IGNORED, "no margin available")
        decision = self._decide(Side.SELL, notional, candle, now, is_entry=True)
        if not decision.approved:
            return Decision(Signal.ENTER_SHORT, Outcome.REJECTED, decision.reason)
        order = self.oms.submit(strategy=self.strategy.name, symbol=self.symbol, side=Side.SELL,
                                signal_ts_ms=candle.ts_ms, now_ms=now, quote_qty=decision.notional_quote,
                                intent=f"{self.strategy.describe()} ENTER_SHORT", events=decision.events)
        return Decision(Signal.ENTER_SHORT, Outcome.ORDERED, str(order.status), order.client_order_id)

    def close_position(self, candle: Candle, now: int, intent: str, key_ts: int | None = None) -> Decision | None:
        """Close the whole position at market, through risk like any exit (the backtest's
        end-of-data settlement, an operator's flatten). The order is keyed to ``key_ts``
        (default ``now``), not to the candle, so it never collides with a strategy order of the
        same candle."""
        pos = self.oms.portfolio.position(self.symbol)
        if self.sellable(pos, candle.close) <= 0:
            return None
        return self._exit(candle, now, pos, intent, key_ts=now if key_ts is None else key_ts)

    def _exit(self, candle: Candle, now: int, pos: Position, intent: str | None = None,
              key_ts: int | None = None, share: Decimal | None = None, limit_price: Decimal | None = None) -> Decision:
        if self.native_stop is not None and self.native_stop.working() is not None:
            if not self.native_stop.cancel(f"exit: {intent or 'strategy sell'}", now):
                return Decision(Signal.SELL, Outcome.WAITING, "the stop on the exchange could not be canceled yet")
            pos = self.oms.portfolio.position(self.symbol)  # the stop may have filled meanwhile
            if self.sellable(pos, candle.close) <= 0:
                return Decision(Signal.SELL, Outcome.IGNORED, "the stop on the exchange filled first")
        qty = self.sellable(pos, candle.close)
        side = Side.BUY if pos.qty < 0 else Side.SELL  # a short is closed by buying back
        if share is not None and share < 1:  # a partial exit, on the amount step
            qty = self.instrument.round_qty(qty * share) if self.instrument.amount_step else qty * share
            if qty <= 0:
                return Decision(Signal.SELL, Outcome.IGNORED, f"{share:%} of the position is less than one amount step")
        notional = qty * Decimal(repr(candle.close))
        decision = self._decide(side, notional, candle, now, is_entry=False)
        signal = Signal.SELL if side is Side.SELL else Signal.EXIT_SHORT
        if not decision.approved:
            return Decision(signal, Outcome.REJECTED, decision.reason)
        order = self.oms.submit(strategy=self.strategy.name, symbol=self.symbol, side=side,
                                signal_ts_ms=candle.ts_ms if key_ts is None else key_ts, now_ms=now, qty=qty,
                                intent=intent or f"{self.strategy.describe()} {signal.name}", events=decision.events,
                                order_type=OrderType.LIMIT if limit_price is not None else OrderType.MARKET,
                                price=limit_price)
        return Decision(signal, Outcome.ORDERED, str(order.status), order.client_order_id)

    def _on_fill(self, fill: Fill, position: Position) -> None:
        if fill.symbol != self.symbol:
            return
        opening = position.qty > 0 if fill.side is Side.BUY else position.qty < 0
        flat = not opening and self.sellable(position, fill.price) <= 0
        self.risk.on_fill(fill, ZERO if flat else position.qty)  # dust a base-currency fee left is flat
        self.exits.after_fill(fill, position, opening, flat)
