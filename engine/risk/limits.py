"""Risk limits as validated settings, and the rules they build. Every limit is off (None)
unless set, except the stale-data guard and the market-closed check."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from engine.risk.base import RiskRule
from engine.risk.concentration import MaxAssetConcentration
from engine.risk.consecutive_losses import MaxConsecutiveLosses
from engine.risk.daily_loss import DailyLossLimit
from engine.risk.drawdown import MaxDrawdown
from engine.risk.exposure import MaxGrossExposure
from engine.risk.liquidation_distance import MinLiquidationDistance
from engine.risk.market_state import MarketClosed, MaxSpread
from engine.risk.open_positions import MaxOpenPositions
from engine.risk.order_notional import MaxOrderNotional
from engine.risk.pairlocks import Cooldown, LockRule, LowProfitPairs, StoplossGuard
from engine.risk.position_notional import MaxPositionNotional
from engine.risk.price_deviation import MaxPriceDeviation
from engine.risk.protection import ProtectionPolicy
from engine.risk.stale_data import StaleData
from engine.risk.trade_rate import MaxTradesPerWindow


class RiskLimits(BaseModel):
    """Limits of the risk manager (quote currency, percent, candles, hours)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_order_notional: Decimal | None = Field(None, gt=0, description="quote per order")
    max_position_notional: Decimal | None = Field(None, gt=0, description="quote per symbol")
    max_price_deviation_pct: float | None = Field(None, gt=0, le=100, description="fat finger, % from last close")
    stale_after_candles: float | None = Field(2.0, gt=0, description="no entries when the newest candle is older")
    max_trades_per_window: int | None = Field(None, ge=1, description="entries per window")
    trade_window_hours: float = Field(24.0, gt=0, description="window of max_trades_per_window")
    max_consecutive_losses: int | None = Field(None, ge=1, description="losing round trips in a row, then halt")
    daily_loss_limit_pct: float | None = Field(None, gt=0, le=100, description="% of the day's first equity")
    daily_loss_limit_quote: float | None = Field(None, gt=0, description="quote currency lost in a day")
    day_start_hour_utc: int = Field(0, ge=0, le=23, description="hour (UTC) at which the trading day starts")
    max_drawdown_pct: float | None = Field(None, gt=0, le=100, description="% below the equity peak, then halt")
    max_gross_exposure_pct: float | None = Field(None, gt=0, le=1000, description="% of equity")
    max_open_positions: int | None = Field(None, ge=1, description="symbols held at once")
    max_asset_concentration_pct: float | None = Field(None, gt=0, le=1000, description="one symbol, % of equity")
    max_spread_bps: float | None = Field(None, gt=0, description="no entries above this bid/ask spread")
    stop_loss_pct: float | None = Field(None, gt=0, lt=100, description="% below the entry price (above for a short)")
    take_profit_pct: float | None = Field(None, gt=0, description="% above the entry price (below for a short)")
    stop_loss_atr: float | None = Field(None, gt=0, description="ATR(14) multiples below the entry")
    take_profit_atr: float | None = Field(None, gt=0, description="ATR(14) multiples above the entry")
    max_holding_candles: int | None = Field(None, ge=1, description="time exit: close a position held this "
                                                                    "many candles of its market")
    flatten_on_halt: bool = Field(False, description="close positions when the breaker halts")
    stop_on_exchange: bool = Field(False, description="place the stop-loss on the exchange as a stop-limit order "
                                   "after each entry fill (it protects the position while quantd is down)")
    stop_limit_offset_pct: float = Field(0.5, ge=0, lt=50, description="the exchange stop's limit price, % below "
                                         "its stop price")
    trailing_stop_pct: float | None = Field(None, gt=0, lt=100, description="trail the stop this % below the "
                                            "highest high since entry (moves only up)")
    cooldown_candles: int | None = Field(None, ge=1, description="lock a symbol for new entries this many candles "
                                         "after any exit of it")
    stoploss_guard_trades: int | None = Field(None, ge=1, description="this many stop-loss exits of a symbol within "
                                              "stoploss_guard_window_candles lock it")
    stoploss_guard_window_candles: int = Field(288, ge=1, description="look-back of stoploss_guard_trades, candles")
    stoploss_guard_lock_candles: int = Field(72, ge=1, description="how long the stop-loss guard locks, candles")
    low_profit_trades: int | None = Field(None, ge=1, description="at least this many trades of a symbol within "
                                          "low_profit_window_candles below low_profit_min_pct lock it")
    low_profit_window_candles: int = Field(288, ge=1, description="look-back of low_profit_trades, candles")
    low_profit_min_pct: float = Field(0.0, description="summed net return (percent) below which a symbol is locked")
    low_profit_lock_candles: int = Field(144, ge=1, description="how long the low-profit rule locks, candles")
    min_liquidation_distance_pct: float | None = Field(None, gt=0, lt=100, description="futures: refuse entries "
                                                       "whose liquidation price is closer than this % to the price")

    def protection(self) -> ProtectionPolicy:
        """The protective-exit policy these limits configure."""
        return ProtectionPolicy(self.stop_loss_pct, self.take_profit_pct, self.stop_loss_atr, self.take_profit_atr,
                                self.max_holding_candles, self.stop_on_exchange, self.stop_limit_offset_pct,
                                self.trailing_stop_pct)

    def lock_rules(self) -> list[LockRule]:
        """The per-pair lock rules these limits switch on (cooldown, stop-loss guard, low profit)."""
        rules: list[LockRule] = []
        if self.cooldown_candles is not None:
            rules.append(Cooldown(self.cooldown_candles))
        if self.stoploss_guard_trades is not None:
            rules.append(StoplossGuard(self.stoploss_guard_trades, self.stoploss_guard_window_candles,
                                       self.stoploss_guard_lock_candles))
        if self.low_profit_trades is not None:
            rules.append(LowProfitPairs(self.low_profit_trades, self.low_profit_window_candles,
                                        self.low_profit_min_pct, self.low_profit_lock_candles))
        return rules

    def build(self, tf_ms: int) -> list[RiskRule]:
        """The rules these limits switch on, in checking order."""
        rules: list[RiskRule] = [MarketClosed()]
        if self.max_spread_bps is not None:
            rules.append(MaxSpread(self.max_spread_bps))
        if self.max_price_deviation_pct is not None:
            rules.append(MaxPriceDeviation(self.max_price_deviation_pct))
        if self.stale_after_candles is not None:
            rules.append(StaleData(int(self.stale_after_candles * tf_ms)))
        if self.daily_loss_limit_pct is not None or self.daily_loss_limit_quote is not None:
            rules.append(DailyLossLimit(self.daily_loss_limit_pct, self.daily_loss_limit_quote))
        if self.max_trades_per_window is not None:
            rules.append(MaxTradesPerWindow(self.max_trades_per_window, int(self.trade_window_hours * 3_600_000)))
        if self.max_consecutive_losses is not None:
            rules.append(MaxConsecutiveLosses(self.max_consecutive_losses))
        if self.max_drawdown_pct is not None:
            rules.append(MaxDrawdown(self.max_drawdown_pct))
        if self.max_open_positions is not None:
            rules.append(MaxOpenPositions(self.max_open_positions))
        if self.max_order_notional is not None:
            rules.append(MaxOrderNotional(self.max_order_notional))
        if self.max_position_notional is not None:
            rules.append(MaxPositionNotional(self.max_position_notional))
        if self.max_gross_exposure_pct is not None:
            rules.append(MaxGrossExposure(self.max_gross_exposure_pct))
        if self.max_asset_concentration_pct is not None:
            rules.append(MaxAssetConcentration(self.max_asset_concentration_pct))
        if self.min_liquidation_distance_pct is not None:
            rules.append(MinLiquidationDistance(self.min_liquidation_distance_pct))
        return rules
