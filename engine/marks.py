"""The mark prices the core values positions at: the last close of each market.

One :class:`Marks` is made by :func:`engine.core.build_core` and handed to every runner
(which writes its market's close after each candle), to the risk manager (whose rules read
them) and to the daemon's views: nothing reaches prices through another object's state.
"""

from __future__ import annotations

from engine.money import price_from_float


class Marks:
    """Last closes by symbol.

    Attributes:
        close: symbol -> the last processed close, quote per base (float market data, as the
            candle gave it).
        raw: symbol -> the same close as a raw 1e-8 price (:mod:`engine.money`), kept current
            for every symbol the account holds (the runner converts only while it holds one).
    """

    __slots__ = ("close", "raw")

    def __init__(self, close: dict[str, float] | None = None):
        self.close: dict[str, float] = dict(close or {})
        self.raw: dict[str, int] = {s: price_from_float(c) for s, c in self.close.items()}

    def set(self, symbol: str, close: float) -> None:
        """Record ``close`` for ``symbol`` in both forms."""
        self.close[symbol] = close
        self.raw[symbol] = price_from_float(close)
