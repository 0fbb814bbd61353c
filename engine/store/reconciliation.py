"""Tables ``reconciliation_issues`` and ``balance_baselines``: what reconciliation found, and
the exchange balances the live account started from."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, DecimalText


class ReconciliationIssueRow(Base):
    """One discrepancy between the store and the exchange, with what was done about it.

    ``kind`` is one of :data:`engine.reconcile.ISSUE_KINDS`; ``detail`` holds both sides' values.
    """

    __tablename__ = "reconciliation_issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    symbol: Mapped[str] = mapped_column(String(32), default="")
    client_order_id: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(256), default="")
    detail: Mapped[dict] = mapped_column(JSON)


class BalanceBaselineRow(Base):
    """An asset's total balance on the exchange when the live account was created (base or
    quote units). Expected balance = baseline + the net effect of the store's fills."""

    __tablename__ = "balance_baselines"

    asset: Mapped[str] = mapped_column(String(16), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(DecimalText)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
