"""Fixed-point money: prices, quantities and quote amounts as exact integers (ADR 0015).

The engine's per-candle arithmetic (marks, equity, exposure, drawdown, daily loss, the
risk rules' limits) runs on Python ``int`` counts of fixed increments, the way
nautilus_trader keeps its ``Price``/``Quantity`` as raw integers at a precision. Python
integers are exact and unbounded, and an add or multiply costs a small fraction of a
``Decimal`` one, so exactness no longer costs speed.

Scales (one for every market, so amounts of different markets add up):

======== ============ ================================================================
value    increment    note
======== ============ ================================================================
price    1e-8 quote   quote per base; ccxt/Binance prices have at most 8 decimals
quantity 1e-12 base   the finest amount step (:data:`engine.models.FINEST_STEP`)
quote    1e-20 quote  ``quantity x price`` lands on it exactly (12 + 8 decimals)
======== ============ ================================================================

Conversions happen only at the edges: :func:`price_from_float` for a candle's float close
(market data), :func:`to_raw` for the ``Decimal`` of an order, a fill, the ledger, a config
limit or the store, :func:`to_decimal` and :func:`to_float` on the way out (store text,
Telegram, reports and analytics).

Rounding (documented, and checked against ``Decimal`` by a property test in
``tests/test_money.py``): :func:`price_from_float` is exact for any price with at most 8
decimals below 10,000,000 quote (``round`` of the float product: the float's own error and
the product's together stay under half an increment up to 2**24, about 16.7 million); :func:`to_raw` is exact for a value with at most
``dp`` decimals and otherwise rounds half to even at the increment (a fee of 0.1% on a
12 + 8 decimal notional has 23 decimals: it is rounded at 1e-20 quote, 12 orders of
magnitude below any venue's precision). Ratios against percentage limits are compared by
cross-multiplication (:func:`at_least_pct`), never by dividing.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

PRICE_DP = 8
"""Decimals of a raw price: 1 raw = 1e-8 quote per base."""
QTY_DP = 12
"""Decimals of a raw quantity: 1 raw = 1e-12 base."""
QUOTE_DP = PRICE_DP + QTY_DP
"""Decimals of a raw quote amount: 1 raw = 1e-20 quote, so raw qty x raw price is raw quote."""

PRICE_ONE = 10 ** PRICE_DP
QTY_ONE = 10 ** QTY_DP
QUOTE_ONE = 10 ** QUOTE_DP

_WIDE = Context(prec=80)
"""Enough digits that scaling a Decimal by 10**dp never rounds (28 digits + 20 decimals)."""


def price_from_float(price: float) -> int:
    """A market-data price (a candle's close, quote per base) as raw 1e-8 increments.

    Exact for any price with at most 8 decimals below 10,000,000 (module docstring);
    above, within one increment.
    """
    return round(price * PRICE_ONE)


def to_raw(value: Decimal | int | str | float, dp: int) -> int:
    """``value`` as a count of ``10**-dp`` increments: exact when it has at most ``dp``
    decimals, else rounded half to even. A float goes through its shortest repr (the
    decimal a person or a file wrote), never its binary expansion.

    Raises:
        decimal.InvalidOperation: not a finite number.
    """
    if not isinstance(value, Decimal):
        value = Decimal(repr(value) if isinstance(value, float) else value)
    return int(value.scaleb(dp, _WIDE).to_integral_value(ROUND_HALF_EVEN, _WIDE))


def to_decimal(raw: int, dp: int) -> Decimal:
    """The exact ``Decimal`` of ``raw`` increments of ``10**-dp``, without trailing zeros
    (``1000000000000`` at 12 decimals is ``Decimal('1')``, not ``1.000000000000``)."""
    value = Decimal(raw).scaleb(-dp, _WIDE)
    if raw % 10 ** dp == 0:
        return value.quantize(Decimal(1), context=_WIDE)
    return value.normalize(_WIDE)


def quote_raw(value: Decimal | int | str | float) -> int:
    """A quote amount (cash, notional, fee, a limit in quote) as raw 1e-20 quote."""
    return to_raw(value, QUOTE_DP)


def quote_decimal(raw: int) -> Decimal:
    """Raw 1e-20 quote as a ``Decimal`` quote amount."""
    return to_decimal(raw, QUOTE_DP)


def quote_float(raw: int) -> float:
    """Raw 1e-20 quote as the nearest float (equity curves, metrics, messages; Python's int
    true division is correctly rounded)."""
    return raw / QUOTE_ONE


def percent(pct: float | Decimal | int) -> tuple[int, int]:
    """A percentage limit as an exact fraction ``(numerator, denominator)`` of the decimal
    the user wrote (``20.5`` -> ``(41, 2)``), for :func:`at_least_pct`."""
    d = pct if isinstance(pct, Decimal) else Decimal(repr(pct) if isinstance(pct, float) else pct)
    return d.as_integer_ratio()


def at_least_pct(part: int, whole: int, pct: tuple[int, int]) -> bool:
    """``part / whole x 100 >= pct`` exactly, for ``whole > 0`` (both in the same units)."""
    num, den = pct
    return part * 100 * den >= num * whole


def above_pct(part: int, whole: int, pct: tuple[int, int]) -> bool:
    """``part / whole x 100 > pct`` exactly, for ``whole > 0``."""
    num, den = pct
    return part * 100 * den > num * whole


def share_of(whole: int, pct: tuple[int, int]) -> int:
    """``pct`` percent of ``whole``, rounded toward zero (a headroom never overstated)."""
    num, den = pct
    return whole * num // (100 * den) if whole >= 0 else -((-whole) * num // (100 * den))


def ratio_pct(part: int, whole: int) -> float:
    """``part / whole x 100`` as a float, for messages and events (0.0 when ``whole`` is 0)."""
    return part * 100 / whole if whole else 0.0
