"""Built-in strategies; importing this package registers them."""

from engine.strategy.builtin import rsi_reversion, sma_cross  # noqa: F401
