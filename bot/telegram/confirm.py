"""Confirmations for dangerous commands (/flatten, /cancel all, /resume from halted).

Each request gets a random token carried by its inline buttons. A press is honoured only
from the user who asked, only once, and only within the validity window; any other press
changes nothing and says why.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

CONFIRM, ABORT = "y", "n"


@dataclass
class Pending:
    """A command waiting for its requester's confirmation (``expires`` monotonic seconds)."""

    command: str
    user_id: int
    chat_id: int
    expires: float
    summary: str


class Confirmations:
    """Open confirmation requests by token."""

    def __init__(self, valid_secs: float):
        self.valid_secs = valid_secs
        self._pending: dict[str, Pending] = {}

    def open(self, command: str, user_id: int, chat_id: int, summary: str) -> str:
        """Register a request; returns its token (for the buttons' callback data)."""
        self._expire()
        token = secrets.token_urlsafe(8)
        self._pending[token] = Pending(command, user_id, chat_id, time.monotonic() + self.valid_secs, summary)
        return token

    def take(self, token: str, user_id: int) -> tuple[Pending | None, str]:
        """Resolve a button press. Returns the request when this press may act on it (it is
        then closed), else None and why not."""
        pending = self._pending.get(token)
        if pending is None:
            return None, "this button is no longer valid (already used or expired): nothing done"
        if pending.user_id != user_id:
            return None, "only the admin who asked can confirm this"
        del self._pending[token]
        if time.monotonic() > pending.expires:
            return None, f"expired after {self.valid_secs:.0f}s: nothing done"
        return pending, ""

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, p in self._pending.items() if now > p.expires + 3600]:
            del self._pending[token]
