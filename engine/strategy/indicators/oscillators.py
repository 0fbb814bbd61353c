"""Oscillators on closes: RSI, CMO, ROC, momentum, MACD, PPO, TRIX.

See :mod:`engine.strategy.indicators` for the conventions shared by every indicator.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from engine.strategy.indicators._base import _arr, _check_period, _nan, _smooth, _Smoother
from engine.strategy.indicators.averages import EMA, SMA, ema, sma


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
