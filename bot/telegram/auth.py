"""Who may talk to the bot: deny by default.

A sender is an ``admin`` (every command) or a ``viewer`` (read-only commands) when its user
id is in the configured list; anyone else gets no reply at all (a reply would confirm the
bot exists), is logged, and the admins hear of it once per sender per hour. Private chats
always work for allowed users; group chats (and their forum topics) only when listed in
``telegram.chats``, and members still need a role.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bot.config_sections import TelegramSettings

ADMIN, VIEWER = "admin", "viewer"
UNAUTHORIZED_ALERT_SECS = 3600.0


@dataclass
class Access:
    """Roles from the settings, plus when each unknown sender was last reported (monotonic s)."""

    settings: TelegramSettings
    _reported: dict[int, float] = field(default_factory=dict)

    def role(self, user_id: int | None) -> str | None:
        """``admin``, ``viewer`` or None."""
        if user_id is None:
            return None
        if user_id in self.settings.admins:
            return ADMIN
        if user_id in self.settings.viewers:
            return VIEWER
        return None

    def chat_allowed(self, chat_id: int, chat_type: str) -> bool:
        """Private chats always; groups, supergroups (and their topics) only when configured."""
        return chat_type == "private" or chat_id in self.settings.chats

    def should_report(self, user_id: int, now: float | None = None) -> bool:
        """True at most once per ``UNAUTHORIZED_ALERT_SECS`` per unknown sender."""
        now = time.monotonic() if now is None else now
        last = self._reported.get(user_id)
        if last is not None and now - last < UNAUTHORIZED_ALERT_SECS:
            return False
        self._reported[user_id] = now
        return True
