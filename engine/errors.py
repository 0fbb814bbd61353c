"""One exception hierarchy for the whole product.

::

    QuantdError                    base: every error quantd raises on purpose
     +-- ConfigError               a setting is missing or out of range (names the field)
     +-- DataError                 an OHLCV file cannot be used (names the file and row)
     +-- StrategyError             unknown strategy or bad parameters
     +-- OrderError                an order cannot be created or moved
     |    +-- IllegalTransition    a status change the order state machine forbids
     +-- StoreError                the SQLite/SQL store is unusable or inconsistent

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
