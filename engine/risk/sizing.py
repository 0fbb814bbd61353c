"""Position sizing: how much quote currency an entry signal commits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.errors import ConfigError
from engine.models import ZERO


@dataclass(frozen=True)
class StakeSizer:
    """Fixed stake per entry, or all available cash.

    ``stake=None`` ("all") buys ``qty = cash / (price * (1 + fee))``, so price plus fee spends
    exactly the cash; a quote amount buys that notional (fee on top), capped to what the
    cash can pay. Both are expressed as the notional to buy, in quote currency; the fill
    divides it by the fill price.

    Args:
        stake: quote currency per entry, or None for all cash.
        fee_rate: fraction of notional charged per fill (0.001 = 0.1%).
    """

    stake: Decimal | None
    fee_rate: Decimal

    @classmethod
    def parse(cls, text: str, fee_rate: Decimal) -> "StakeSizer":
        """From the CLI/config form: "all" or a positive quote amount such as "500".

        Raises:
            ConfigError: neither "all" nor a positive number.
        """
        if str(text).strip().lower() == "all":
            return cls(None, fee_rate)
        try:
            value = Decimal(str(text))
        except Exception:
            raise ConfigError(f"stake: {text!r} is neither 'all' nor a quote amount") from None
        if not value.is_finite() or value <= 0:
            raise ConfigError(f"stake: {text!r} must be 'all' or a positive quote amount")
        return cls(value, fee_rate)

    def entry_notional(self, cash: Decimal) -> Decimal:
        """Quote notional to buy with ``cash`` available (0 when nothing can be bought)."""
        affordable = cash / (1 + self.fee_rate)
        if affordable <= 0:
            return ZERO
        return affordable if self.stake is None else min(self.stake, affordable)
