"""The fixed-point money type agrees with Decimal (property tests), and the risk decisions it
makes are exact where float arithmetic was not."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.models import Fill, Side
from engine.money import (
    PRICE_DP,
    QTY_DP,
    QUOTE_DP,
    at_least_pct,
    percent,
    price_from_float,
    quote_decimal,
    quote_raw,
    share_of,
    to_decimal,
    to_raw,
)
from engine.portfolio import Portfolio
from engine.risk.base import RiskView
from engine.risk.drawdown import MaxDrawdown

PRICES = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("10000000"), places=PRICE_DP)
QTYS = st.decimals(min_value=Decimal("0.000000000001"), max_value=Decimal("1000000"), places=QTY_DP)
FEE_RATES = st.decimals(min_value=Decimal(0), max_value=Decimal("0.01"), places=6)


def exact(value: Decimal, dp: int) -> Decimal:
    """``value`` rounded half-even to ``dp`` decimals, in a context wide enough to be exact."""
    with localcontext() as ctx:
        ctx.prec = 100
        return value.quantize(Decimal(1).scaleb(-dp), rounding=ROUND_HALF_EVEN)


@settings(max_examples=300, deadline=None)
@given(price=PRICES)
def test_a_market_price_read_from_a_float_is_the_decimal_that_was_written(price):
    assert price_from_float(float(price)) == int(price.scaleb(PRICE_DP)), "exact below 10M with <= 8 decimals"


@settings(max_examples=300, deadline=None)
@given(price=PRICES, qty=QTYS, fee_rate=FEE_RATES)
def test_notional_and_fee_agree_with_decimal(price, qty, fee_rate):
    notional = to_raw(qty, QTY_DP) * to_raw(price, PRICE_DP)
    with localcontext() as ctx:
        ctx.prec = 100
        assert quote_decimal(notional) == qty * price, "qty x price lands on 1e-20 quote exactly"
        fee = qty * price * fee_rate
    assert quote_decimal(quote_raw(fee)) == exact(fee, QUOTE_DP), "a fee is rounded half-even at 1e-20 quote"
    assert abs(quote_decimal(quote_raw(fee)) - fee) <= Decimal("0.5e-20")


@settings(max_examples=300, deadline=None)
@given(value=st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=QUOTE_DP),
       dp=st.sampled_from([PRICE_DP, QTY_DP, QUOTE_DP]))
def test_decimal_round_trip_is_exact_and_has_no_trailing_zeros(value, dp):
    raw = to_raw(value, dp)
    back = to_decimal(raw, dp)
    assert back == exact(value, dp)
    if back == back.to_integral_value():
        assert back.as_tuple().exponent == 0, "an integer reads 10000, not 1E+4 nor 10000.000"
    else:
        assert back.as_tuple().digits[-1] != 0, "no trailing zeros"


@settings(max_examples=300, deadline=None)
@given(peak=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e9"), places=2),
       equity=st.decimals(min_value=Decimal(0), max_value=Decimal("1e9"), places=2),
       pct=st.decimals(min_value=Decimal("0.1"), max_value=Decimal(100), places=1))
def test_the_drawdown_decision_is_the_exact_decimal_one(peak, equity, pct):
    with localcontext() as ctx:
        ctx.prec = 100
        want = (peak - equity) / peak * 100 >= pct
    assert at_least_pct(quote_raw(peak - equity), quote_raw(peak), percent(pct)) is want
    assert share_of(quote_raw(peak), percent(pct)) <= quote_raw(peak) * pct / 100, "a headroom is never overstated"


def test_a_drawdown_of_exactly_the_limit_halts_without_a_tolerance():
    # in floats (1 - 8000 / 10000) * 100 is 19.999999999999996: below the limit without a tolerance
    view = RiskView(equity_raw=quote_raw("8000"), peak_raw=quote_raw("10000"))
    assert MaxDrawdown(20.0).on_state(view) is not None, "8,000 from a 10,000 peak is 20%: halt"
    view.equity_raw += 1  # 1e-20 quote less drawdown
    assert MaxDrawdown(20.0).on_state(view) is None


@settings(max_examples=100, deadline=None)
@given(fills=st.lists(st.tuples(st.booleans(), QTYS, PRICES, FEE_RATES), min_size=1, max_size=12))
def test_the_ledgers_integer_image_never_drifts_from_its_decimal(fills):
    book = Portfolio(Decimal("1e15"))
    for k, (buy, qty, price, rate) in enumerate(fills):
        held = book.position("BTC/USDT").qty
        if not buy:
            qty = min(qty, held)
            if qty <= 0:
                continue
        fee = qty * price * rate
        book.apply(Fill(f"t{k}", f"o{k}", "BTC/USDT", Side.BUY if buy else Side.SELL, qty, price, fee, k))
        assert book.cash_raw == quote_raw(book.cash)
        assert book.held.get("BTC/USDT", 0) == to_raw(book.position("BTC/USDT").qty, QTY_DP)
        with localcontext() as ctx:
            ctx.prec = 100
            want = book.cash + book.position("BTC/USDT").qty * price
        assert quote_decimal(book.equity_raw({"BTC/USDT": to_raw(price, PRICE_DP)})) == exact(want, QUOTE_DP)
