"""One exception hierarchy for the whole product.

::

    QuantdError                    base: every error quantd raises on purpose
     +-- ConfigError               a setting is missing or out of range (names the field)
     +-- DataError                 an OHLCV file cannot be used (names the file and row)
     +-- StrategyError             unknown strategy or bad parameters
     +-- OrderError                an order cannot be created or moved
     |    +-- IllegalTransition    a status change the order state machine forbids
     +-- StoreError                the SQLite/SQL store is unusable or inconsistent
     |    +-- StoreLocked          another live daemon holds the store (exit 1)
     |    +-- StoreCorrupt         the database file is damaged (exit 3: never restart on it)
     +-- VenueError                the exchange answered with an error we cannot act on
     |    +-- VenueUnavailable     network, rate limit or maintenance: retry later
     |         +-- SubmissionUnknown  create_order's outcome is unknown: look the order up
     +-- VaultError                secrets missing or stored with loose permissions

Messages say what went wrong, where, and what to do; the CLI prints them as one line.
"""

from __future__ import annotations


class QuantdError(Exception):
    """Base of every error quantd raises on purpose."""


class ConfigError(QuantdError):
    """A configuration value is invalid; the message names the field."""


class DataError(QuantdError):
    """An OHLCV file is unreadable or inconsistent.

    Attributes:
        path: the file, as given.
        row: 1-based line number in the file (the header is line 1), when known.
    """

    def __init__(self, message: str, path: str | None = None, row: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if row is not None:
                where += f", line {row}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.row = row


class StrategyError(QuantdError):
    """An unknown strategy name or invalid strategy parameters."""


class OrderError(QuantdError):
    """An order cannot be created, sized or submitted."""


class IllegalTransition(OrderError):
    """An order status change the state machine forbids (e.g. filled -> open)."""


class StoreError(QuantdError):
    """The store is unusable (schema too new, unreadable file, inconsistent rows)."""


class StoreLocked(StoreError):
    """Another running daemon holds the store's lock; the message names it (pid, host, since)."""


class StoreCorrupt(StoreError):
    """The store's database file is damaged (malformed pages, not a database). Restarting
    cannot fix it: the message names the file and the way back (a backup, the integrity check)."""


class VenueError(QuantdError):
    """The exchange refused a request for a reason retrying cannot fix (bad symbol, bad
    credentials, permission); the message carries the exchange's own text."""


class VenueUnavailable(VenueError):
    """The exchange could not be reached or asked us to back off (timeout, 429/418,
    5xx, maintenance), even after the bounded retries of reads."""


class SubmissionUnknown(VenueUnavailable):
    """An order was sent but no answer came back: it may or may not be on the book.

    Never resend on this error: look the order up by its client order id first."""


class VaultError(ConfigError):
    """A secret is missing, or its file can be read by group or others."""


class BacktestCanceled(QuantdError):
    """A running backtest was canceled through its progress callback."""
