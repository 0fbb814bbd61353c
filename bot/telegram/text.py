"""Message text for Telegram: HTML escaping and splitting at Telegram's 4096-character limit.

Replies and alerts are sent with ``parse_mode=HTML`` and every dynamic part escaped with
:func:`html.escape`, so a symbol, a reason or an exchange message can never break the
markup (freqtrade's Markdown replies fail on an unescaped ``_``)."""

from __future__ import annotations

import html

MAX_CHARS = 4096
"""Telegram's limit for one message's text, counted after entity parsing."""


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Split plain ``text`` into parts of at most ``limit`` characters, at line boundaries
    when possible (a longer line is cut hard). Joining the parts with newlines gives the text
    back."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = line if not current else current + "\n" + line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    parts.append(current)
    return parts


def esc(value: object) -> str:
    """HTML-escape any value for a ``parse_mode=HTML`` message."""
    return html.escape(str(value), quote=False)


def to_html(plain: str, heading: str | None = None, monospace: bool = False) -> str:
    """One message part as HTML: an optional bold heading, the escaped text, optionally in
    ``<pre>`` (tables)."""
    body = f"<pre>{esc(plain)}</pre>" if monospace else esc(plain)
    return f"<b>{esc(heading)}</b>\n{body}" if heading else body
