"""Imports every table module so ``Base.metadata`` knows them all."""

from engine.store import account, ledger, orders, reconciliation  # noqa: F401
