"""Imports every table module so ``Base.metadata`` knows them all."""

from engine.store import account, ledger, orders, outbox, reconciliation  # noqa: F401
