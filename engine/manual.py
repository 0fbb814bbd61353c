"""An operator's own trades, queued like every operator command (the bot's ``/buy``,
``/sell``, ``/limit_sell``) and applied by the engine between candles:

* ``buy <symbol> [quote]``: a market buy of ``quote`` notional (default: the market's
  configured stake), capped to the cash;
* ``sell <symbol> [pct|all]``: a market sell of ``pct`` percent of the sellable position
  (default all);
* ``limit_sell <symbol> <price> [pct]``: the same as a limit order at ``price``.

Each goes through the risk manager like a strategy's order (a refusal names the rule and
its reason), is stored with the operator's name in its intent, and the strategy sees the
position at its next candle. The result comes back in words.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from engine.commands import Verb
from engine.events import EntrySkipped
from engine.models import Side


def parse_trade(verb: Verb | str, arg: str) -> tuple[str, Decimal | None, Decimal | None]:
    """``(symbol, amount, price)`` of an operator trade: ``amount`` is quote notional for a
    buy (None: the stake), a share 0..1 of the position for a sell (None: all); ``price`` is
    the limit of ``limit_sell``.

    Raises:
        ValueError: the arguments, in words (the bot's usage line says the same), or a verb
            that is not buy, sell or limit_sell.
    """
    verb = Verb(verb)
    if verb not in (Verb.BUY, Verb.SELL, Verb.LIMIT_SELL):
        raise ValueError(f"{verb} is not a trade")
    words = arg.split()
    if not words or "/" not in words[0]:
        raise ValueError("name a symbol such as BTC/USDT first")
    symbol, rest = words[0].upper(), words[1:]
    price = None
    if verb is Verb.LIMIT_SELL:
        if not rest:
            raise ValueError("limit_sell needs a price")
        price, rest = _positive(rest[0], "price"), rest[1:]
    if len(rest) > 1:
        raise ValueError(f"too many arguments: {' '.join(rest)}")
    if verb is Verb.BUY:
        return symbol, (_positive(rest[0], "quote amount") if rest else None), None
    if not rest or rest[0].lower() == "all":
        return symbol, None, price
    pct = _positive(rest[0].rstrip("%"), "percent")
    if pct > 100:
        raise ValueError(f"percent {pct} is above 100")
    return symbol, pct / 100, price


def _positive(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{what} must be positive, got {text}")
    return value


def trade_command(engine, verb: Verb, arg: str, by: str, now_ms: int) -> str:
    """Apply one operator trade on ``engine`` (a :class:`engine.live.LiveEngine`); returns
    what happened, in words. Never raises on bad input: the result says what was wrong."""
    if verb in (Verb.APPROVE, Verb.SKIP):
        return _answer(engine, verb, arg.strip(), by, now_ms)
    try:
        symbol, amount, price = parse_trade(verb, arg)
    except ValueError as exc:
        return f"not done: {exc}"
    lane = next((la for la in engine.lanes if la.symbol == symbol), None)
    if lane is None:
        return f"not done: {symbol} is not traded (symbols: {', '.join(la.symbol for la in engine.lanes)})"
    if lane.last_candle is None:
        return f"not done: no candle of {symbol} yet to price the order"
    runner = lane.runner
    if any(not o.is_protective_stop for o in engine.oms.open_orders(symbol)):
        return f"not done: an order is already working on {symbol} (/orders)"
    side = Side.BUY if verb is Verb.BUY else Side.SELL
    key = engine.oms.free_signal_ts(runner.strategy.name, symbol, side, now_ms)  # each operator order is new
    if verb is Verb.BUY:
        decision = runner.manual_buy(lane.last_candle, now_ms, amount, f"manual buy by {by}", key)
    else:
        what = "limit sell" if price is not None else "sell"
        decision = runner.manual_sell(lane.last_candle, now_ms, amount if amount is not None else Decimal(1),
                                      f"manual {what} by {by}", key, price)
    return f"{symbol}: {verb} {decision.action} {decision.client_order_id or ''}".strip()


def _answer(engine, verb: Verb, entry_id: str, by: str, now_ms: int) -> str:
    """An operator's Approve or Skip of a held entry (``approve_entries``)."""
    approvals = engine.lanes[0].runner.approvals
    if approvals is None:
        return "entries are not held for approval (telegram.approve_entries is off)"
    entry, why = approvals.take(entry_id, now_ms)
    if entry is None:
        return why
    if verb is Verb.SKIP:
        events = [EntrySkipped(now_ms, entry.id, entry.symbol, f"skipped by {by}")]
        engine.journal.record_events(events)
        engine.bus.publish(events)
        return f"entry {entry.id} on {entry.symbol} skipped"
    lane = next(la for la in engine.lanes if la.symbol == entry.symbol)
    runner = lane.runner
    key = engine.oms.free_signal_ts(runner.strategy.name, entry.symbol, Side.BUY, now_ms)
    decision = runner.manual_buy(lane.last_candle, now_ms, entry.notional, f"{entry.intent} (approved by {by})", key)
    return f"entry {entry.id} on {entry.symbol}: buy {decision.action} {decision.client_order_id or ''}".strip()
