"""What a :class:`~engine.runner.StrategyRunner` did with a signal: the order it produced, or
why none was."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Outcome(StrEnum):
    """What the runner did with a signal."""

    ORDERED = "ordered"
    """An order went to the OMS; ``detail`` is its status after submission (``open``, ``filled``...)."""
    IGNORED = "ignored"
    """Nothing to do (no position to sell, an order already working, no cash, entries blocked)."""
    REJECTED = "rejected"
    """A risk rule refused it; ``detail`` is ``<rule>: <reason>``."""
    WAITING = "waiting"
    """It waits: for an operator's approval, or for the venue's stop to be canceled."""


class Decision(NamedTuple):
    """What happened to a signal: the order it produced, or why none was.

    Attributes:
        outcome: the kind of answer; detail: its specifics in words.
        client_order_id: the order's id when one was submitted.
    """

    signal: object
    outcome: Outcome
    detail: str = ""
    client_order_id: str | None = None

    @property
    def action(self) -> str:
        """The decision for a person and the log: the order's status (``filled``), else
        ``<outcome>: <detail>`` (``rejected: circuit_breaker: breaker paused: ...``)."""
        if self.outcome is Outcome.ORDERED:
            return self.detail
        return f"{self.outcome.value}: {self.detail}" if self.detail else self.outcome.value
