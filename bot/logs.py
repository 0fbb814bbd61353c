"""Logging set-up: readable lines in a terminal, JSON lines under a supervisor, an optional
rotating file. Standard library only.

The daemon (``quantd run``) logs to stdout: its log is its output, and journald and Docker
read it there. One-shot commands log to stderr, so their stdout stays clean for what they
print (``quantd status --json | jq``).

JSON lines (one object per line, for journald and Docker's log drivers) carry ``ts`` (ISO 8601
UTC, ms), ``level``, ``logger``, ``msg``, ``exc`` (a traceback, when there is one) and, when the
record has them, ``event``, ``symbol`` and ``client_order_id`` (order lines always do).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
STRUCTURED_FIELDS = ("event", "symbol", "client_order_id")
"""``extra=`` keys copied into JSON lines when present."""


QUIET_LOGGERS = {
    "apscheduler": logging.ERROR,  # "skipped: max instances" is intended coalescing
    "httpx": logging.WARNING,  # its INFO lines carry request URLs, which hold the bot token
    "alembic": logging.WARNING,  # plugin set-up chatter on every open; quantd logs migrations itself
    "matplotlib": logging.WARNING,  # "generated new fontManager" on the first chart of a machine
}
"""Library loggers held above INFO."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring for the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        for key in STRUCTURED_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already formatted (and redacted) by a filter
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def use_json(fmt: str, environ: dict[str, str] | None = None) -> bool:
    """``json``/``text`` as asked; ``auto``: JSON when stdout goes to journald (systemd sets
    ``JOURNAL_STREAM``), readable text otherwise."""
    if fmt != "auto":
        return fmt == "json"
    env = os.environ if environ is None else environ
    return bool(env.get("JOURNAL_STREAM"))


def configure(level: str = "INFO", fmt: str = "auto", file: Path | None = None, file_max_mb: float = 20,
              file_backups: int = 5, stream=None) -> None:
    """Replace the root logger's handlers: ``stream`` (default stderr) in ``fmt``, plus a rotating JSON-lines file
    when ``file`` is set (its folder is created).

    Raises:
        OSError: the log file cannot be opened.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json(fmt) else
                         logging.Formatter(TEXT_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S%z"))
    root.addHandler(handler)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(file, maxBytes=int(file_max_mb * 1024 * 1024),
                                                        backupCount=file_backups, encoding="utf-8")
        rotating.setFormatter(JsonFormatter())
        root.addHandler(rotating)
    root.setLevel(level)
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)


class _Redact(logging.Filter):
    """Replaces a secret in a record's message and traceback (a library may quote a URL or an
    error that contains a token)."""

    def __init__(self, secret: str, label: str):
        super().__init__()
        self.secret, self.label = secret, label

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, self.label), None
        if record.exc_info and record.exc_info[1] is not None and self.secret in str(record.exc_info[1]):
            record.exc_text = logging.Formatter().formatException(record.exc_info).replace(self.secret, self.label)
            record.exc_info = None
        return True


def redact(secret: str, label: str) -> None:
    """From now on, every log line shows ``label`` instead of ``secret`` (installed on every
    root handler, where all records end up). Secrets shorter than 6 characters are ignored
    (they would mangle ordinary words)."""
    if len(secret) < 6:
        return
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _Redact) and f.secret == secret for f in handler.filters):
            handler.addFilter(_Redact(secret, label))


class RecentLines(logging.Handler):
    """The last ``capacity`` log lines in memory, formatted as in a terminal, for the bot's
    ``/logs``. Installed on the root logger like any handler, so the secret filters that
    :func:`redact` puts on every root handler apply to it too."""

    def __init__(self, capacity: int = 2000):
        super().__init__(logging.DEBUG)
        from collections import deque

        self.lines: deque[tuple[int, str]] = deque(maxlen=capacity)
        self.setFormatter(logging.Formatter(TEXT_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S%z"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append((record.levelno, self.format(record)))
        except Exception:  # a log line must never break the caller
            self.handleError(record)

    def last(self, n: int, min_level: int = logging.INFO) -> list[str]:
        """The last ``n`` lines at ``min_level`` or above, oldest first."""
        picked = [line for level, line in list(self.lines) if level >= min_level]
        return picked[-n:]


def recent_lines() -> RecentLines:
    """The root logger's :class:`RecentLines`, installed on first use (call it before any
    :func:`redact`, so the secret filters reach it)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, RecentLines):
            return handler
    handler = RecentLines()
    root.addHandler(handler)
    return handler
