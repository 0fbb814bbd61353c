"""Built-in strategies; importing this package registers them."""

from engine.strategy.builtin import (  # noqa: F401
    bbands_reversion,
    cci,
    donchian_breakout,
    ema_cross,
    macd_trend,
    roc,
    rsi_reversion,
    sma_cross,
)
