"""Operator commands: the verbs the engine applies between candles.

The CLI (``quantd pause``) and the Telegram bot queue a command in the store as text,
``<verb> [argument]`` (:func:`engine.store.journal.queue_command`, :func:`command_text`); the
engine parses it back with :func:`parse_command` and dispatches on the :class:`Verb`
(:meth:`engine.live.LiveEngine.apply_operator_commands`). A text whose first word is not a
verb is answered "unknown command", never guessed at.
"""

from __future__ import annotations

from enum import StrEnum


class Verb(StrEnum):
    """What an operator can ask of a running engine. A ``str`` underneath: the queued text
    and the store keep the word."""

    PAUSE = "pause"
    """No new entries; exits still work (the circuit breaker, every market)."""
    RESUME = "resume"
    """Leave paused or halted."""
    KILL = "kill"
    """Halt, then close every position at market now."""
    FLATTEN = "flatten"
    """``flatten <symbol|all>``: close positions at market now; the breaker is untouched."""
    CANCEL = "cancel"
    """``cancel <client order id|all>``: cancel working orders."""
    BUY = "buy"
    """``buy <symbol> [quote amount]``: the operator's own entry (:mod:`engine.manual`)."""
    SELL = "sell"
    """``sell <symbol> [percent|all]``: the operator's own exit at market."""
    LIMIT_SELL = "limit_sell"
    """``limit_sell <symbol> <price> [percent|all]``: the operator's own exit as a limit order."""
    APPROVE = "approve"
    """``approve <entry id>``: make an entry held for approval."""
    SKIP = "skip"
    """``skip <entry id>``: drop an entry held for approval."""
    RECONCILE = "reconcile"
    """Reconcile now and report every finding (:mod:`engine.reconcile_ops`)."""
    ADOPT = "adopt"
    """``adopt <exchange order id>``: take over an external open order."""
    REBASELINE = "rebaseline"
    """Accept the current balance drift as not the daemon's."""
    KEEP = "keep"
    """Leave a reconciliation finding as it is."""
    UNLOCK = "unlock"
    """``unlock <symbol|all>``: end pair locks."""
    RELOAD = "reload"
    """Reload the config from its file and the environment."""


BREAKER_VERBS = frozenset({Verb.PAUSE, Verb.RESUME, Verb.KILL})
"""The verbs that act on the shared circuit breaker (:meth:`engine.risk.manager.RiskManager.operator`)."""
TRADE_VERBS = frozenset({Verb.BUY, Verb.SELL, Verb.LIMIT_SELL, Verb.APPROVE, Verb.SKIP})
"""The operator's own trades and answers to held entries (:mod:`engine.manual`)."""
RECONCILE_VERBS = frozenset({Verb.RECONCILE, Verb.ADOPT, Verb.REBASELINE, Verb.KEEP})
"""Reconciliation from the phone (:mod:`engine.reconcile_ops`)."""


def parse_command(text: str) -> tuple[Verb | None, str]:
    """``(verb, argument)`` of a queued command text; the verb is None when the first word
    is not one (the argument is then the whole text, for the answer)."""
    word, _, arg = text.strip().partition(" ")
    try:
        return Verb(word), arg.strip()
    except ValueError:
        return None, text.strip()


def command_text(verb: Verb, arg: str = "") -> str:
    """The text that queues ``verb`` with ``arg`` (what :func:`parse_command` reads back)."""
    return f"{verb} {arg}".strip()


def unknown_command(text: str) -> str:
    """The answer to a command text whose first word is not a :class:`Verb`."""
    return f"unknown command {text!r}: use one of {', '.join(Verb)}"
