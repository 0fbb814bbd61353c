"""Imports every table module so ``Base.metadata`` knows them all."""

from engine.store import account, heartbeat, ledger, orders, outbox, pairlocks, reconciliation  # noqa: F401
