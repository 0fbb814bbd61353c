"""Imports every table module so ``Base.metadata`` knows them all."""

from engine.store import account, ledger, orders  # noqa: F401
