"""Technical indicators in two forms: incremental for the event-driven engine, vectorised for research.

Every indicator is defined once, by its **incremental class**: ``update(...)`` takes the
newest closed candle's values and returns the indicator (a tuple for multi-line ones), or
``None`` during warm-up. The work per candle does not grow with the history: recursive
indicators (EMA, Wilder's smoothing) are O(1); window indicators (SMA, Bollinger, CCI,
Donchian, Ultimate Oscillator) re-sum their fixed window exactly with :func:`math.fsum`,
O(period), so they never drift over a months-long live run.

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

import math
from collections import deque
from typing import Any

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------
# helpers


def _check_period(name: str, period: int, minimum: int = 1) -> None:
    if int(period) != period or period < minimum:
        raise ValueError(f"{name} period must be an integer >= {minimum}, got {period!r}")


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _arr(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _smooth(values: np.ndarray, period: int, alpha: float, start: int = 0) -> np.ndarray:
    """Exponential smoothing seeded with the mean of ``values[start:start + period]``.

    Returns NaN before index ``start + period - 1``; ``alpha`` is ``2 / (period + 1)`` for an
    EMA and ``1 / period`` for Wilder's smoothing.
    """
    n = values.size
    out = _nan(n)
    first = start + period - 1
    if first >= n:
        return out
    seed = math.fsum(values[start:first + 1].tolist()) / period
    tail = np.concatenate(([seed], values[first + 1:]))
    out[first:] = pd.Series(tail, copy=False).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def replay(indicator: Any, *columns: Any) -> np.ndarray | tuple[np.ndarray, ...]:
    """Run an incremental indicator over whole columns: its exact values as arrays.

    Args:
        indicator: a fresh instance, e.g. ``EMA(20)``.
        columns: the arrays its ``update`` takes, in order (``close``; or ``high, low,
            close``; or ``close, volume``), all the same length.

    Returns:
        One float array (NaN during warm-up), or a tuple of arrays for an indicator whose
        ``update`` returns a tuple.
    """
    cols = [_arr(c).tolist() for c in columns]
    values = [indicator.update(*row) for row in zip(*cols)]
    width = next((len(v) for v in values if isinstance(v, tuple)), 0)
    if not width:
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return tuple(np.array([np.nan if v is None else v[k] for v in values], dtype=float) for k in range(width))


class _Window:
    """The last ``period`` values, summed exactly."""

    __slots__ = ("period", "values")

    def __init__(self, period: int):
        self.period = period
        self.values: deque[float] = deque(maxlen=period)

    def push(self, x: float) -> bool:
        """Add ``x``; True once the window is full."""
        self.values.append(x)
        return len(self.values) == self.period

    def mean(self) -> float:
        return math.fsum(self.values) / self.period


class _Smoother:
    """Seeded exponential smoothing (see the module docstring); ``None`` until seeded."""

    __slots__ = ("period", "alpha", "wilder", "_seed", "value")

    def __init__(self, period: int, wilder: bool = False):
        self.period = period
        self.wilder = wilder
        self.alpha = 1.0 / period if wilder else 2.0 / (period + 1)
        self._seed: list[float] = []
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        if self.value is None:
            self._seed.append(x)
            if len(self._seed) < self.period:
                return None
            self.value = math.fsum(self._seed) / self.period
            self._seed = []
        elif self.wilder:
            self.value = (self.value * (self.period - 1) + x) / self.period
        else:
            self.value = (x - self.value) * self.alpha + self.value
        return self.value


# --------------------------------------------------------------------------------------
# moving averages


class SMA:
    """Simple moving average of the last ``period`` values (exactly rounded window sum).

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_window")

    def __init__(self, period: int):
        _check_period("SMA", period)
        self.period = period
        self._window = _Window(period)

    def update(self, x: float) -> float | None:
        """Add the newest value; the average once ``period`` values were seen, else None."""
        return self._window.mean() if self._window.push(x) else None


def sma(values: np.ndarray, period: int) -> np.ndarray:
    """Vectorised :class:`SMA`: the mean of each window of ``period`` values, NaN before.

    Uses pandas' rolling mean (a compensated running sum), which equals :class:`SMA`'s exactly
    rounded window sum to about 1e-12 relative on price data; where a decision depends on
    a difference smaller than that, use :func:`sma_exact` for those candles.

    Raises:
        ValueError: ``period < 1``.
    """
    _check_period("SMA", period)
    return pd.Series(_arr(values), copy=False).rolling(period).mean().to_numpy()


def sma_exact(values: np.ndarray, period: int, at: np.ndarray) -> np.ndarray:
    """:class:`SMA`'s own value (``fsum`` of the window / period) at the indices ``at``
    (each ``>= period - 1``): the same float the incremental form returns."""
    return np.array([math.fsum(values[i - period + 1:i + 1].tolist()) / period for i in at.tolist()])


class EMA:
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the SMA of the
    first ``period`` values (TA-Lib ``EMA``); the first value comes with the ``period``-th input.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_s")

    def __init__(self, period: int):
        _check_period("EMA", period)
        self.period = period
        self._s = _Smoother(period)

    def update(self, x: float) -> float | None:
        """Add the newest value; the EMA once seeded, else None."""
        return self._s.update(x)


def ema(values: np.ndarray, period: int) -> np.ndarray:
    """Vectorised :class:`EMA` (NaN for the first ``period - 1`` values)."""
    _check_period("EMA", period)
    return _smooth(_arr(values), period, 2.0 / (period + 1))


# --------------------------------------------------------------------------------------
# oscillators on closes


class _GainLoss:
    """Wilder-smoothed gains and losses of the close, seeded with the mean of the first
    ``period`` changes (shared by :class:`RSI` and :class:`CMO`)."""

    __slots__ = ("_prev", "_gain", "_loss")

    def __init__(self, period: int):
        self._prev: float | None = None
        self._gain = _Smoother(period, wilder=True)
        self._loss = _Smoother(period, wilder=True)

    def update(self, x: float) -> tuple[float, float] | None:
        prev, self._prev = self._prev, x
        if prev is None:
            return None
        change = x - prev
        gain = self._gain.update(change if change > 0 else 0.0)
        loss = self._loss.update(-change if change < 0 else 0.0)
        return None if gain is None else (gain, loss)


class RSI:
    """Relative Strength Index with Wilder's smoothing (Wilder, *New Concepts in Technical
    Trading Systems*, 1978; TA-Lib ``RSI``).

    Average gain and loss are Wilder-smoothed changes of the close, seeded with the mean of
    the first ``period`` changes. ``RSI = 100 * gain / (gain + loss)`` (the same as
    ``100 - 100 / (1 + RS)``), in [0, 100]; 50 when there was neither gain nor loss. The
    first value comes with the ``period + 1``-th close.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_gl")

    def __init__(self, period: int = 14):
        _check_period("RSI", period)
        self.period = period
        self._gl = _GainLoss(period)

    def update(self, x: float) -> float | None:
        """Add the newest close; the RSI once warm, else None."""
        gl = self._gl.update(x)
        if gl is None:
            return None
        total = gl[0] + gl[1]
        return 50.0 if total == 0.0 else 100.0 * (gl[0] / total)


def _gains_losses(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    change = np.diff(close, prepend=np.nan)
    return np.where(change > 0, change, 0.0), np.where(change < 0, -change, 0.0)


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Vectorised :class:`RSI` (NaN for the first ``period`` closes)."""
    _check_period("RSI", period)
    gain, loss = _gains_losses(_arr(close))
    g = _smooth(gain, period, 1.0 / period, start=1)
    lo = _smooth(loss, period, 1.0 / period, start=1)
    total = g + lo
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total == 0.0, 50.0, 100.0 * (g / total))
    out[np.isnan(total)] = np.nan
    return out


class CMO:
    """Chande Momentum Oscillator (Chande & Kroll, *The New Technical Trader*, 1994), as
    TA-Lib computes it: Wilder-smoothed gains and losses as in :class:`RSI`, then
    ``100 * (gain - loss) / (gain + loss)`` in [-100, 100]; 0 with neither.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("_gl",)

    def __init__(self, period: int = 14):
        _check_period("CMO", period)
        self._gl = _GainLoss(period)

    def update(self, x: float) -> float | None:
        """Add the newest close; the CMO once warm, else None."""
        gl = self._gl.update(x)
        if gl is None:
            return None
        total = gl[0] + gl[1]
        return 0.0 if total == 0.0 else 100.0 * ((gl[0] - gl[1]) / total)


def cmo(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Vectorised :class:`CMO` (NaN for the first ``period`` closes)."""
    _check_period("CMO", period)
    gain, loss = _gains_losses(_arr(close))
    g = _smooth(gain, period, 1.0 / period, start=1)
    lo = _smooth(loss, period, 1.0 / period, start=1)
    total = g + lo
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total == 0.0, 0.0, 100.0 * ((g - lo) / total))
    out[np.isnan(total)] = np.nan
    return out


class ROC:
    """Rate of change in percent: ``(x / x[period ago] - 1) * 100`` (TA-Lib ``ROC``; 0 when
    the old value is 0). The first value comes with the ``period + 1``-th input.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_past")

    def __init__(self, period: int = 10):
        _check_period("ROC", period)
        self.period = period
        self._past: deque[float] = deque(maxlen=period + 1)

    def update(self, x: float) -> float | None:
        """Add the newest value; the ROC once ``period`` earlier values exist, else None."""
        self._past.append(x)
        if len(self._past) <= self.period:
            return None
        old = self._past[0]
        return 0.0 if old == 0.0 else (x / old - 1.0) * 100.0


def roc(values: np.ndarray, period: int = 10) -> np.ndarray:
    """Vectorised :class:`ROC` (NaN for the first ``period`` values)."""
    _check_period("ROC", period)
    x = _arr(values)
    out = _nan(x.size)
    old = x[:-period] if period < x.size else x[:0]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[period:] = np.where(old == 0.0, 0.0, (x[period:] / old - 1.0) * 100.0)
    return out


class Momentum:
    """Momentum: ``x - x[period ago]`` (TA-Lib ``MOM``), in the input's units.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_past")

    def __init__(self, period: int = 10):
        _check_period("Momentum", period)
        self.period = period
        self._past: deque[float] = deque(maxlen=period + 1)

    def update(self, x: float) -> float | None:
        """Add the newest value; the momentum once ``period`` earlier values exist, else None."""
        self._past.append(x)
        return None if len(self._past) <= self.period else x - self._past[0]


def momentum(values: np.ndarray, period: int = 10) -> np.ndarray:
    """Vectorised :class:`Momentum` (NaN for the first ``period`` values)."""
    _check_period("Momentum", period)
    x = _arr(values)
    out = _nan(x.size)
    if period < x.size:
        out[period:] = x[period:] - x[:-period]
    return out


class MACD:
    """Moving Average Convergence/Divergence (Appel, 1979), as TA-Lib computes it.

    ``macd = EMA(fast) - EMA(slow)``; ``signal = EMA(signal)`` of the macd line;
    ``hist = macd - signal``. Both EMAs start on the ``slow``-th close (the fast one seeded
    with the mean of the last ``fast`` of those closes), so the first triple comes with the
    ``slow + signal - 1``-th close. Units: quote per base.

    Raises:
        ValueError: a period < 1, or ``fast >= slow``.
    """

    __slots__ = ("fast", "slow", "_first", "_fast", "_slow", "_signal")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9):
        for name, p in (("MACD fast", fast), ("MACD slow", slow), ("MACD signal", signal)):
            _check_period(name, p)
        if fast >= slow:
            raise ValueError(f"MACD fast ({fast}) must be smaller than slow ({slow})")
        self.fast, self.slow = fast, slow
        self._first: list[float] = []
        self._fast = _Smoother(fast)
        self._slow = _Smoother(slow)
        self._signal = _Smoother(signal)

    def update(self, x: float) -> tuple[float, float, float] | None:
        """Add the newest close; ``(macd, signal, hist)`` once warm, else None."""
        if self._slow.value is None:
            self._first.append(x)
            if len(self._first) < self.slow:
                return None
            for v in self._first[self.slow - self.fast:]:
                self._fast.update(v)
            for v in self._first:
                self._slow.update(v)
            self._first = []
        else:
            self._fast.update(x)
            self._slow.update(x)
        line = self._fast.value - self._slow.value
        sig = self._signal.update(line)
        return None if sig is None else (line, sig, line - sig)


def macd(close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :class:`MACD`: ``(macd, signal, hist)`` arrays, NaN before index
    ``slow + signal - 2``."""
    MACD(fast, slow, signal)  # validates
    x = _arr(close)
    slow_ema = _smooth(x, slow, 2.0 / (slow + 1))
    fast_ema = _smooth(x, fast, 2.0 / (fast + 1), start=slow - fast)
    line = fast_ema - slow_ema
    sig = _smooth(line, signal, 2.0 / (signal + 1), start=slow - 1)
    line = np.where(np.isnan(sig), np.nan, line)
    return line, sig, line - sig


class PPO:
    """Percentage Price Oscillator: ``(MA(fast) - MA(slow)) / MA(slow) * 100`` (TA-Lib
    ``PPO``; 0 when ``MA(slow)`` is 0). ``ma`` is ``"sma"`` (TA-Lib's default) or ``"ema"``
    (each :class:`EMA` seeded on its own first inputs, unlike :class:`MACD`). The first
    value comes with the ``slow``-th input.

    Raises:
        ValueError: a period < 1, ``fast >= slow``, or an unknown ``ma``.
    """

    __slots__ = ("_fast", "_slow")

    def __init__(self, fast: int = 12, slow: int = 26, ma: str = "sma"):
        if ma not in ("sma", "ema"):
            raise ValueError(f"PPO ma must be 'sma' or 'ema', got {ma!r}")
        _check_period("PPO fast", fast)
        _check_period("PPO slow", slow)
        if fast >= slow:
            raise ValueError(f"PPO fast ({fast}) must be smaller than slow ({slow})")
        ma_class = EMA if ma == "ema" else SMA
        self._fast, self._slow = ma_class(fast), ma_class(slow)

    def update(self, x: float) -> float | None:
        """Add the newest value; the PPO in percent once warm, else None."""
        f, s = self._fast.update(x), self._slow.update(x)
        if s is None:
            return None
        return 0.0 if s == 0.0 else (f - s) / s * 100.0


def ppo(values: np.ndarray, fast: int = 12, slow: int = 26, ma: str = "sma") -> np.ndarray:
    """Vectorised :class:`PPO` (NaN for the first ``slow - 1`` values)."""
    PPO(fast, slow, ma)  # validates
    x = _arr(values)
    if ma == "ema":
        f, s = ema(x, fast), ema(x, slow)
    else:
        f, s = sma(x, fast), sma(x, slow)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s == 0.0, 0.0, (f - s) / s * 100.0)


class TRIX:
    """TRIX (Hutson, 1983): the one-candle rate of change, in percent, of a triple EMA
    (TA-Lib ``TRIX``; each EMA seeded with the mean of its first ``period`` inputs). The
    first value comes with the ``3 * (period - 1) + 2``-th input.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("_e1", "_e2", "_e3", "_roc")

    def __init__(self, period: int = 30):
        _check_period("TRIX", period)
        self._e1, self._e2, self._e3 = _Smoother(period), _Smoother(period), _Smoother(period)
        self._roc = ROC(1)

    def update(self, x: float) -> float | None:
        """Add the newest value; TRIX once warm, else None."""
        v = self._e1.update(x)
        v = None if v is None else self._e2.update(v)
        v = None if v is None else self._e3.update(v)
        return None if v is None else self._roc.update(v)


def trix(values: np.ndarray, period: int = 30) -> np.ndarray:
    """Vectorised :class:`TRIX`."""
    _check_period("TRIX", period)
    a = 2.0 / (period + 1)
    e1 = _smooth(_arr(values), period, a)
    e2 = _smooth(e1, period, a, start=period - 1)
    e3 = _smooth(e2, period, a, start=2 * (period - 1))
    return roc(e3, 1)


# --------------------------------------------------------------------------------------
# bands and channels


class BollingerBands:
    """Bollinger bands (Bollinger, 1980s; TA-Lib ``BBANDS`` with an SMA):
    ``middle = SMA(period)``, ``upper/lower = middle +/- k * sigma`` with ``sigma`` the
    population standard deviation of the window. Units: the input's.

    Raises:
        ValueError: ``period < 1`` or ``k < 0``.
    """

    __slots__ = ("k", "_window")

    def __init__(self, period: int = 20, k: float = 2.0):
        _check_period("Bollinger", period)
        if not k >= 0:
            raise ValueError(f"Bollinger k must be >= 0, got {k!r}")
        self.k = k
        self._window = _Window(period)

    def update(self, x: float) -> tuple[float, float, float] | None:
        """Add the newest value; ``(lower, middle, upper)`` once warm, else None."""
        w = self._window
        if not w.push(x):
            return None
        mid = w.mean()
        sigma = math.sqrt(math.fsum((v - mid) ** 2 for v in w.values) / w.period)
        return mid - self.k * sigma, mid, mid + self.k * sigma


def bbands(values: np.ndarray, period: int = 20, k: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :class:`BollingerBands`: ``(lower, middle, upper)``."""
    BollingerBands(period, k)  # validates
    s = pd.Series(_arr(values), copy=False).rolling(period)
    mid = s.mean().to_numpy()
    sigma = s.std(ddof=0).to_numpy()
    return mid - k * sigma, mid, mid + k * sigma


class Donchian:
    """Donchian channel: the highest high and lowest low of the last ``period`` candles,
    this one included (TA-Lib ``MAX(high)``/``MIN(low)``), and their midpoint.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_highs", "_lows")

    def __init__(self, period: int = 20):
        _check_period("Donchian", period)
        self.period = period
        self._highs: deque[float] = deque(maxlen=period)
        self._lows: deque[float] = deque(maxlen=period)

    def update(self, high: float, low: float) -> tuple[float, float, float] | None:
        """Add a closed candle's high and low; ``(lower, middle, upper)`` once warm, else None."""
        self._highs.append(high)
        self._lows.append(low)
        if len(self._highs) < self.period:
            return None
        hi, lo = max(self._highs), min(self._lows)
        return lo, (hi + lo) / 2.0, hi


def donchian(high: np.ndarray, low: np.ndarray, period: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :class:`Donchian`: ``(lower, middle, upper)``."""
    _check_period("Donchian", period)
    hi = pd.Series(_arr(high), copy=False).rolling(period).max().to_numpy()
    lo = pd.Series(_arr(low), copy=False).rolling(period).min().to_numpy()
    return lo, (hi + lo) / 2.0, hi


# --------------------------------------------------------------------------------------
# indicators on whole candles


class ATR:
    """Average True Range with Wilder's smoothing (Wilder 1978; TA-Lib ``ATR``).

    True range ``TR = max(high - low, |high - prev_close|, |low - prev_close|)`` from the
    second candle on; the first ATR is the mean of the first ``period`` TRs, then Wilder's
    smoothing. The first value comes with the ``period + 1``-th candle. Units: quote per base.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_prev_close", "_s", "value")

    def __init__(self, period: int = 14):
        _check_period("ATR", period)
        self.period = period
        self._prev_close: float | None = None
        self._s = _Smoother(period, wilder=True)
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add a closed candle; the ATR once warm, else None."""
        prev, self._prev_close = self._prev_close, close
        if prev is None:
            return None
        self.value = self._s.update(max(high - low, abs(high - prev), abs(low - prev)))
        return self.value


def _true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    prev = np.concatenate(([np.nan], close[:-1]))
    return np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Vectorised :class:`ATR` (NaN for the first ``period`` candles)."""
    _check_period("ATR", period)
    return _smooth(_true_range(_arr(high), _arr(low), _arr(close)), period, 1.0 / period, start=1)


class CCI:
    """Commodity Channel Index (Lambert, 1980; TA-Lib ``CCI``): with the typical price
    ``tp = (high + low + close) / 3``, ``CCI = (tp - SMA(tp)) / (0.015 * mean |tp - SMA(tp)|)``
    over the last ``period`` candles; 0 when either part is 0.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("_window",)

    def __init__(self, period: int = 20):
        _check_period("CCI", period)
        self._window = _Window(period)

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add a closed candle; the CCI once warm, else None."""
        w = self._window
        tp = (high + low + close) / 3.0
        if not w.push(tp):
            return None
        mean = w.mean()
        dev = math.fsum(abs(v - mean) for v in w.values) / w.period
        top = tp - mean
        return 0.0 if top == 0.0 or dev == 0.0 else top / (0.015 * dev)


def cci(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 20) -> np.ndarray:
    """Vectorised :class:`CCI` (NaN for the first ``period - 1`` candles). Memory is bounded:
    the mean deviation is computed over windows in blocks of 65,536 candles."""
    _check_period("CCI", period)
    tp = (_arr(high) + _arr(low) + _arr(close)) / 3.0
    n = tp.size
    out = _nan(n)
    if n < period:
        return out
    mean = sma(tp, period)
    dev = np.empty(n - period + 1)
    windows = np.lib.stride_tricks.sliding_window_view(tp, period)
    block = 65_536
    for a in range(0, windows.shape[0], block):
        w = windows[a:a + block]
        dev[a:a + block] = np.abs(w - mean[period - 1 + a:period - 1 + a + w.shape[0], None]).mean(axis=1)
    top = tp[period - 1:] - mean[period - 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[period - 1:] = np.where((top == 0.0) | (dev == 0.0), 0.0, top / (0.015 * dev))
    return out


class UltimateOscillator:
    """Ultimate Oscillator (Williams, 1985; TA-Lib ``ULTOSC``): with
    ``bp = close - min(low, prev_close)`` and ``tr = max(high, prev_close) - min(low, prev_close)``,
    ``avg_n = sum(bp) / sum(tr)`` over the last n candles (0 when the range is 0), and
    ``UO = 100 * (4 avg_short + 2 avg_mid + avg_long) / 7``. The first value comes with the
    ``long + 1``-th candle.

    Raises:
        ValueError: a period < 1 or the periods not ``short < mid < long``.
    """

    __slots__ = ("periods", "_prev_close", "_bp", "_tr")

    def __init__(self, short: int = 7, mid: int = 14, long: int = 28):
        for name, p in (("short", short), ("mid", mid), ("long", long)):
            _check_period(f"Ultimate Oscillator {name}", p)
        if not short < mid < long:
            raise ValueError(f"Ultimate Oscillator periods must be short < mid < long, got {short}, {mid}, {long}")
        self.periods = (short, mid, long)
        self._prev_close: float | None = None
        self._bp: deque[float] = deque(maxlen=long)
        self._tr: deque[float] = deque(maxlen=long)

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add a closed candle; the oscillator in [0, 100] once warm, else None."""
        prev, self._prev_close = self._prev_close, close
        if prev is None:
            return None
        true_low = min(low, prev)
        self._bp.append(close - true_low)
        self._tr.append(max(high, prev) - true_low)
        if len(self._bp) < self.periods[2]:
            return None
        bp, tr = list(self._bp), list(self._tr)
        total = 0.0
        for weight, p in zip((4.0, 2.0, 1.0), self.periods):
            r = math.fsum(tr[-p:])
            total += weight * (math.fsum(bp[-p:]) / r if r != 0.0 else 0.0)
        return 100.0 * total / 7.0


def ultosc(high: np.ndarray, low: np.ndarray, close: np.ndarray, short: int = 7, mid: int = 14,
           long: int = 28) -> np.ndarray:
    """Vectorised :class:`UltimateOscillator` (NaN for the first ``long`` candles)."""
    UltimateOscillator(short, mid, long)  # validates
    h, lo, c = _arr(high), _arr(low), _arr(close)
    prev = np.concatenate(([np.nan], c[:-1]))
    true_low = np.minimum(lo, prev)
    bp = pd.Series(c - true_low, copy=False)
    tr = pd.Series(np.maximum(h, prev) - true_low, copy=False)
    total = np.zeros(c.size)
    for weight, p in zip((4.0, 2.0, 1.0), (short, mid, long)):
        r = tr.rolling(p).sum().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            total += weight * np.where(r != 0.0, bp.rolling(p).sum().to_numpy() / r, 0.0)
        total[np.isnan(r)] = np.nan
    out = 100.0 * total / 7.0
    out[:long] = np.nan
    return out


class OBV:
    """On-Balance Volume (Granville, 1963; TA-Lib ``OBV``): starts at the first candle's
    volume, then adds the volume on an up close and subtracts it on a down close. Units:
    base currency."""

    __slots__ = ("_prev", "value")

    def __init__(self) -> None:
        self._prev: float | None = None
        self.value = 0.0

    def update(self, close: float, volume: float) -> float:
        """Add a closed candle's close and volume; the running OBV."""
        prev, self._prev = self._prev, close
        if prev is None:
            self.value = volume
        elif close > prev:
            self.value += volume
        elif close < prev:
            self.value -= volume
        return self.value


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Vectorised :class:`OBV` (a sequential cumulative sum, the incremental order)."""
    c, v = _arr(close), _arr(volume)
    step = np.sign(np.diff(c, prepend=np.nan))
    step[0] = 1.0
    return np.cumsum(step * v)
