"""Strategy level: signal sanity. A strategy's output is checked before anything acts on it."""

from __future__ import annotations

import math

from engine.models import Signal
from engine.risk.base import REJECT, RuleName, Verdict

NAME = RuleName.SIGNAL_SANITY


def check_signal(value: object, position_open: bool, previous: object, reported: bool = False,
                 short: bool = False) -> Verdict | None:
    """Why a strategy's return value must not be acted on, or None when it is a usable signal.

    Args:
        value: what ``on_candle`` returned.
        position_open: the strategy holds a position; short: that position is short.
        previous: the strategy's last non-None signal.
        reported: a repeat of ``previous`` was already reported in this streak.

    Refused: anything but a :class:`Signal` or None (NaN, inf, numbers, strings); a collection
    holding two different signals (contradictory, e.g. BUY and SELL); the same signal as the
    previous one while it has no effect (BUY while long, SELL while flat or short, ENTER_SHORT
    while short, EXIT_SHORT while not short): repeated, reported once per streak. A
    signal that merely fits no position (a first SELL while flat) is not refused; the
    runner ignores it.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        kinds = sorted({v.name for v in value if isinstance(v, Signal)})
        if len(kinds) > 1:
            return Verdict(NAME, REJECT, f"contradictory signals: {' and '.join(kinds)} on the same candle", 0.0, 0.0)
        return Verdict(NAME, REJECT, f"a strategy returns one signal, not {type(value).__name__}", 0.0, 0.0)
    if not isinstance(value, Signal):
        if isinstance(value, float) and not math.isfinite(value):
            return Verdict(NAME, REJECT, f"signal is {value}", 0.0, 0.0)
        return Verdict(NAME, REJECT, f"invalid signal {value!r}: return Signal.BUY, Signal.SELL or None", 0.0, 0.0)
    if value is previous and not reported and _redundant(value, position_open, short):
        state = ("short" if short else "open") if position_open else "flat"
        return Verdict(NAME, REJECT, f"repeated {value.name}: position already {state}", 0.0, 0.0)
    return None


def _redundant(signal: Signal, position_open: bool, short: bool) -> bool:
    long = position_open and not short
    if signal is Signal.BUY:
        return long
    if signal is Signal.SELL:
        return not long
    if signal is Signal.ENTER_SHORT:
        return position_open and short
    return not (position_open and short)  # EXIT_SHORT
