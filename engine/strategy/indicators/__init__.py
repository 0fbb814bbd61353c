"""Technical indicators in two forms: incremental for the event-driven engine, vectorised for research.

Every indicator is defined once, by its **incremental class**: ``update(...)`` takes the
newest closed candle's values and returns the indicator (a tuple for multi-line ones), or
``None`` during warm-up. The work per candle does not grow with the history: recursive
indicators (EMA, Wilder's smoothing) are O(1); window indicators (SMA, Bollinger, CCI,
Donchian, Ultimate Oscillator) re-sum their fixed window exactly with :func:`math.fsum`,
O(period), so they never drift over a months-long live run. :class:`SMAPair` (two SMAs of
one series, as ``sma_cross`` uses) keeps running sums of the values' exact binary integers
instead: O(1), the same floats, no drift.

The **vectorised function** of the same name in lower case computes the whole series with
numpy/pandas (NaN during warm-up). It follows the same maths and equals the incremental
form to ~1e-12 relative (a different summation order), which ``tests/test_indicators.py``
checks, together with both forms against TA-Lib on real Binance candles. Where a strategy's
decision hinges on a difference smaller than that, :func:`replay` gives the incremental
form's exact floats for the whole series.

Conventions are TA-Lib's (the reference most platforms match), with its default of no
"unstable period":

* EMA seeds with the simple mean of its first ``period`` inputs, then
  ``ema += (x - ema) * 2 / (period + 1)``.
* Wilder's smoothing (RSI, ATR, CMO) seeds the same way, then ``avg += (x - avg) / period``
  (written ``(avg * (period - 1) + x) / period``, as Wilder did).
* MACD starts the fast EMA where the slow one starts, seeded with the mean of the last
  ``fast`` of the slow EMA's first ``slow`` inputs.
* Standard deviations are of the population (divide by ``period``).

Where TA-Lib outputs an arbitrary 0 for an undefined value (a flat market: no gains and no
losses), the RSI here gives 50 (neutral, so a flat market is neither oversold nor
overbought); the others follow TA-Lib.
"""

from __future__ import annotations

from engine.strategy.indicators._base import replay
from engine.strategy.indicators.averages import EMA, SMA, SMAPair, ema, sma, sma_exact
from engine.strategy.indicators.bands import BollingerBands, Donchian, bbands, donchian
from engine.strategy.indicators.candles import ATR, CCI, OBV, UltimateOscillator, atr, cci, obv, ultosc
from engine.strategy.indicators.oscillators import (
                                                   CMO,
                                                   MACD,
                                                   PPO,
                                                   ROC,
                                                   RSI,
                                                   TRIX,
                                                   Momentum,
                                                   cmo,
                                                   macd,
                                                   momentum,
                                                   ppo,
                                                   roc,
                                                   rsi,
                                                   trix,
)

__all__ = ["ATR", "BollingerBands", "CCI", "CMO", "Donchian", "EMA", "MACD", "Momentum", "OBV", "PPO", "ROC",
           "RSI", "SMA", "SMAPair", "TRIX", "UltimateOscillator", "atr", "bbands", "cci", "cmo", "donchian", "ema",
           "macd", "momentum", "obv", "ppo", "replay", "roc", "rsi", "sma", "sma_exact", "trix", "ultosc"]
