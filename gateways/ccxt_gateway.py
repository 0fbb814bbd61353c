"""Any ccxt exchange as an :class:`engine.ports.ExchangeGateway` (Binance spot first).

The engine is synchronous and single-threaded; ccxt's async client runs on an event loop
owned by this gateway in a background thread, and each port method waits for its call
(``call_timeout_secs`` bounds the wait beyond ccxt's own HTTP timeout).

Before an order leaves, its amount goes through ``amount_to_precision`` (truncating) and its
price through ``price_to_precision``; the market's minimum amount and minimum notional are
checked locally, so an order the venue would refuse is rejected here with a clear reason.
Numbers coming back from ccxt are floats; they become ``Decimal`` through their shortest
repr, which is the decimal string the venue published.

Errors: see :mod:`gateways.ccxt_errors`. Reads retry network errors; ``create_order`` never
retries and raises :class:`~engine.errors.SubmissionUnknown` when the outcome is unknown.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext, setcontext

import ccxt
import ccxt.async_support as ccxt_async

from engine.errors import ConfigError, VenueError, VenueUnavailable
from engine.models import Candle, Fill, Instrument, Order, OrderStatus, OrderType, OrderUpdate, Side
from gateways.ccxt_errors import RetryPolicy, read, submission_error

log = logging.getLogger("quantd.gateway")

_STATUS = {"closed": OrderStatus.FILLED, "canceled": OrderStatus.CANCELED, "cancelled": OrderStatus.CANCELED,
           "expired": OrderStatus.EXPIRED, "rejected": OrderStatus.REJECTED}


def dec(x) -> Decimal:
    """A ccxt number (float, int, str or None) as Decimal; None becomes 0."""
    return Decimal(0) if x is None else Decimal(repr(x) if isinstance(x, float) else str(x))


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue reports it (for reconciliation).

    Attributes:
        client_order_id: may be the venue's own id for orders placed elsewhere.
        amount, filled: base currency; price: quote per base (0 for market orders).
    """

    client_order_id: str
    exchange_order_id: str
    symbol: str
    side: str
    status: OrderStatus
    amount: Decimal
    filled: Decimal
    price: Decimal


class CcxtGateway:
    """Orders, balances and candles through one ccxt exchange.

    Args:
        exchange_id: a ccxt id ("binance").
        api_key, secret: credentials (from the vault); never logged.
        sandbox: use the exchange's testnet (``set_sandbox_mode(True)``).
        api_url: replace the exchange's REST host in every API URL (tests, private mirrors).
        timeout_ms: ccxt's HTTP timeout per request.
        retry: bounds of read retries.
        rate_limit_ms: ccxt's ``rateLimit`` (ms per request of weight 1); None: the exchange's
            published default (Binance: 50). The limiter stays on either way.
        market: ``spot``, or ``futures``: the exchange's USDT-margined linear perpetuals
            (ccxt ``swap``/``linear`` markets; Binance USD-M). The engine names a perpetual by
            its spot-style symbol (``BTC/USDT``); the gateway maps it to ccxt's
            ``BTC/USDT:USDT`` (:meth:`venue_symbol`). Public endpoints only for now: candles,
            markets and funding rates (dry-run, ADR 0017).
    """

    liquidates_itself = False
    """A spot account is never liquidated; :class:`~gateways.ccxt_futures.CcxtFuturesGateway` sets True."""

    needs_every_candle = True
    """The venue's orders change without us (fills, cancels by hand): asked on every candle."""

    def __init__(self, exchange_id: str, *, api_key: str = "", secret: str = "", sandbox: bool = False,
                 api_url: str | None = None, timeout_ms: int = 10_000, retry: RetryPolicy | None = None,
                 rate_limit_ms: int | None = None, market: str = "spot"):
        if market not in ("spot", "futures"):
            raise ConfigError(f"invalid setting market: {market!r} is not spot or futures")
        self.market = market
        if not hasattr(ccxt_async, exchange_id):
            raise ConfigError(f"invalid setting exchange.id: {exchange_id!r} is not a ccxt exchange")
        self.exchange_id = exchange_id
        self.retry = retry or RetryPolicy()
        self.call_timeout_secs = timeout_ms / 1000 * (self.retry.attempts + 1) + self.retry.max_total_secs
        self.last_latency_ms: float | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ccxt-loop", daemon=True)
        self._thread.start()
        self.exchange = self._run(self._make(exchange_id, api_key, secret, sandbox, api_url, timeout_ms, rate_limit_ms))
        self._markets_loaded = False
        self._last_close: dict[str, Decimal] = {}
        """symbol -> close of the last candle synced: the reference price of market sells' minimum notional."""

    async def _make(self, exchange_id, api_key, secret, sandbox, api_url, timeout_ms, rate_limit_ms):
        ex = getattr(ccxt_async, exchange_id)({
            "apiKey": api_key, "secret": secret, "enableRateLimit": True, "timeout": timeout_ms,
            **({"rateLimit": rate_limit_ms} if rate_limit_ms else {}),
            "options": {**_MARKET_OPTIONS[self.market], "fetchCurrencies": False, "fetchMargins": False},
        })
        if sandbox:
            ex.set_sandbox_mode(True)
        if api_url:
            _rewrite_hosts(ex.urls["api"], api_url.rstrip("/"))
            if hasattr(ex, "get_exceptions_by_url"):  # binance picks its error map by host: by path here
                ex.get_exceptions_by_url = lambda url, kind: _exceptions_by_path(ex, url, kind)
        return ex

    def _run(self, coro):
        started = time.monotonic()
        result = asyncio.run_coroutine_threadsafe(_own_decimal_context(coro), self._loop).result(
            timeout=self.call_timeout_secs)
        self.last_latency_ms = (time.monotonic() - started) * 1000  # of the last call that answered (/health)
        return result

    def close(self) -> None:
        """Close ccxt's HTTP session and stop the loop thread."""
        try:
            self._run(self.exchange.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    # ----- markets ----------------------------------------------------------------------------
    def load_markets(self, reload: bool = False) -> None:
        """Load the venue's markets once (``reload``: again, e.g. after a BadSymbol)."""
        if self._markets_loaded and not reload:
            return
        self._run(read(self.exchange, self.retry, "load_markets", self.exchange.load_markets, reload))
        self._markets_loaded = True

    def venue_symbol(self, symbol: str) -> str:
        """ccxt's symbol of the engine's ``symbol``: itself on spot, the linear perpetual
        ``BASE/QUOTE:QUOTE`` on futures."""
        if self.market == "futures" and ":" not in symbol:
            return f"{symbol}:{symbol.split('/')[-1]}"
        return symbol

    def instrument(self, symbol: str) -> Instrument:
        """Trading rules of ``symbol`` from the venue's market structure (on futures, of its
        linear perpetual, whose contract must be one base unit).

        Raises:
            ConfigError: the venue has no such spot market (or perpetual), or its contract is
                not one base unit.
        """
        self.load_markets()
        market = self.exchange.markets.get(self.venue_symbol(symbol))
        if self.market == "futures":
            if market is None or not (market.get("swap") and market.get("linear")):
                raise ConfigError(f"{self.exchange_id} has no USDT-margined perpetual {self.venue_symbol(symbol)!r}")
            if dec(market.get("contractSize") or 1) != 1:
                raise ConfigError(f"{self.venue_symbol(symbol)}: contracts of {market.get('contractSize')} base "
                                  "units are not supported (one base unit per contract only)")
        elif market is None or not market.get("spot"):
            raise ConfigError(f"{self.exchange_id} has no spot market {symbol!r}")
        prec, limits = market["precision"], market["limits"]
        return Instrument(symbol, _step(prec.get("amount")), _step(prec.get("price")),
                          dec((limits.get("cost") or {}).get("min")))

    def _min_amount(self, symbol: str) -> Decimal:
        return dec((self.exchange.markets[symbol]["limits"].get("amount") or {}).get("min"))

    # ----- orders -----------------------------------------------------------------------------
    def create_order(self, order: Order) -> OrderUpdate:
        """Send ``order`` with its client order id (see :class:`engine.ports.ExchangeGateway`).
        A market sell's notional is checked at the last synced candle's close.

        Raises:
            SubmissionUnknown: no answer; the order may or may not exist.
        """
        self.load_markets()
        try:
            args = self._order_args(order)
        except _LocalReject as exc:
            log.warning("order %s rejected before sending: %s", order.client_order_id, exc)
            return OrderUpdate(order.client_order_id, OrderStatus.REJECTED, None, f"rejected locally: {exc}")
        try:
            result = self._run(self._timed(self.exchange.create_order(*args)))
        except Exception as exc:  # noqa: BLE001  (classified: refusal or unknown outcome)
            mapped = submission_error(exc)
            if mapped is exc:
                log.warning("order %s refused by %s: %s", order.client_order_id, self.exchange_id, exc)
                return OrderUpdate(order.client_order_id, OrderStatus.REJECTED, None,
                                   f"{type(exc).__name__}: {_venue_text(exc)}")
            raise mapped from None
        return self._update(order, result, result.get("trades") or [])

    def _order_args(self, order: Order) -> tuple:
        # ccxt's decimal_to_precision sets the calling thread's decimal context to ROUND_HALF_UP
        # with an Underflow trap, for good; keep that out of the engine thread's money maths
        with localcontext():
            return self._precise_order_args(order)

    def _precise_order_args(self, order: Order) -> tuple:
        symbol, ex = self.venue_symbol(order.symbol), self.exchange
        params: dict = {"clientOrderId": order.client_order_id}
        price = None
        if order.type is not OrderType.MARKET:
            if order.price is None:
                raise _LocalReject(f"a {order.type.value} order needs a price")
            price = float(ex.price_to_precision(symbol, float(order.price)))
        if order.type is OrderType.STOP_LIMIT:
            if order.stop_price is None:
                raise _LocalReject("a stop_limit order needs a stop_price")
            params["stopPrice"] = float(ex.price_to_precision(symbol, float(order.stop_price)))
        min_cost = dec((ex.markets[symbol]["limits"].get("cost") or {}).get("min"))
        if order.qty is None:
            return self._quote_order_args(order, symbol, min_cost, params)
        return self._amount_order_args(order, symbol, order.qty, price, min_cost, params)

    def _quote_order_args(self, order: Order, symbol: str, min_cost: Decimal, params: dict) -> tuple:
        """A market buy spending ``order.quote_qty`` (ccxt ``cost``, Binance ``quoteOrderQty``)."""
        cost = order.quote_qty or Decimal(0)
        if cost < min_cost:
            raise _LocalReject(f"notional {cost} is below the market's minimum {min_cost}")
        params["cost"] = float(cost)
        return symbol, "market", order.side.value, None, None, params

    def _amount_order_args(self, order: Order, symbol: str, qty: Decimal, price: float | None, min_cost: Decimal,
                           params: dict, check_notional: bool = True) -> tuple:
        """An order of ``qty`` base units, truncated to the amount precision; its notional (at
        its price, or at the last candle's close) checked against the minimum unless
        ``check_notional`` is off."""
        ex = self.exchange
        amount = dec(ex.amount_to_precision(symbol, float(qty))) if qty > 0 else Decimal(0)
        if amount <= 0 or amount < self._min_amount(symbol):
            raise _LocalReject(f"amount {qty} rounds to {amount}, below the market's minimum "
                               f"{self._min_amount(symbol)}")
        ref = Decimal(repr(price)) if price is not None else self._last_close.get(order.symbol)
        if check_notional and ref is not None and amount * ref < min_cost:
            raise _LocalReject(f"notional {amount * ref} is below the market's minimum {min_cost}")
        ccxt_type = "market" if order.type is OrderType.MARKET else "limit"
        return symbol, ccxt_type, order.side.value, float(amount), price, params

    def cancel_order(self, order: Order, reason: str) -> OrderUpdate:
        """Cancel ``order``; an order that is no longer open comes back in its final state."""
        try:
            self._run(read(self.exchange, self.retry, f"cancel {order.client_order_id}", self.exchange.cancel_order,
                           order.exchange_order_id, self.venue_symbol(order.symbol),
                           {} if order.exchange_order_id else {"clientOrderId": order.client_order_id}))
        except ccxt.OrderNotFound:
            log.info("cancel %s: not open at the venue any more; fetching its final state", order.client_order_id)
        except VenueError as exc:
            log.warning("cancel %s refused: %s", order.client_order_id, exc)
        update = self.fetch_order(order)
        if update is None:
            return OrderUpdate(order.client_order_id, OrderStatus.REJECTED, None, "unknown to the venue")
        if update.status is OrderStatus.CANCELED:
            update.reason = reason
        return update

    def fetch_order(self, order: Order) -> OrderUpdate | None:
        """The venue's view of ``order`` by client order id, with its trades; None when the venue
        says it does not exist (``OrderNotFound``)."""
        self.load_markets()
        try:
            result = self._run(read(self.exchange, self.retry, f"fetch_order {order.client_order_id}",
                                    self.exchange.fetch_order, None, self.venue_symbol(order.symbol),
                                    {"clientOrderId": order.client_order_id}))
        except ccxt.OrderNotFound:
            return None
        trades = self._trades_of(order.symbol, result) if (result.get("filled") or 0) > 0 else []
        return self._update(order, result, trades)

    def sync(self, symbol: str, candle: Candle, working: list[Order]) -> list[OrderUpdate]:
        """Poll each working order of ``symbol``; fills are fetched only when the filled amount moved."""
        if candle is not None:
            self._last_close[symbol] = Decimal(repr(candle.close))
        updates = []
        for order in working:
            result = self._run(read(self.exchange, self.retry, f"fetch_order {order.client_order_id}",
                                    self.exchange.fetch_order, order.exchange_order_id, self.venue_symbol(symbol),
                                    {} if order.exchange_order_id else {"clientOrderId": order.client_order_id}))
            moved = dec(result.get("filled")) != order.filled_qty
            trades = self._trades_of(symbol, result) if moved else []
            updates.append(self._update(order, result, trades))
        return updates

    def _trades_of(self, symbol: str, result: dict) -> list[dict]:
        return self._run(read(self.exchange, self.retry, f"fetch_my_trades {result['id']}",
                              self.exchange.fetch_my_trades, self.venue_symbol(symbol), None, None,
                              {"orderId": result["id"]}))

    def _update(self, order: Order, result: dict, trades: list[dict]) -> OrderUpdate:
        status = _STATUS.get(result.get("status") or "open")
        filled = dec(result.get("filled"))
        if status is None:
            status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
        fills = [self._fill(order, t, result) for t in trades if t.get("id")]
        side = result.get("side")
        info = result.get("info") or {}
        quote_amount = dec(info.get("origQuoteOrderQty")) if isinstance(info, dict) else Decimal(0)  # Binance
        return OrderUpdate(order.client_order_id, status, str(result.get("id") or "") or None, "", fills,
                           Side(side) if side in ("buy", "sell") else None,
                           dec(result.get("amount")) if order.quote_qty is None and result.get("amount") else None,
                           quote_amount or None)

    @staticmethod
    def _fill(order: Order, trade: dict, result: dict) -> Fill:
        fee = trade.get("fee") or {}
        ts = trade.get("timestamp") or result.get("lastTradeTimestamp") or result.get("timestamp") or 0
        return Fill(str(trade["id"]), order.client_order_id, order.symbol, Side(order.side.value),
                    dec(trade.get("amount")), dec(trade.get("price")), dec(fee.get("cost")), int(ts),
                    fee.get("currency") or "")

    # ----- account and market data --------------------------------------------------------------
    def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        """Every open order of ``symbol`` on the account, ours or not."""
        self.load_markets()
        rows = self._run(read(self.exchange, self.retry, f"fetch_open_orders {symbol}",
                              self.exchange.fetch_open_orders, self.venue_symbol(symbol)))
        return [VenueOrder(str(r.get("clientOrderId") or r["id"]), str(r["id"]), symbol, r["side"],
                           _STATUS.get(r.get("status") or "open", OrderStatus.OPEN), dec(r.get("amount")),
                           dec(r.get("filled")), dec(r.get("price"))) for r in rows]

    def fetch_balances(self) -> dict[str, Decimal]:
        """Total (free + locked) balance per asset, in that asset's units."""
        bal = self._run(self._timed(read(self.exchange, self.retry, "fetch_balance", self.exchange.fetch_balance)))
        return {asset: dec(amount) for asset, amount in (bal.get("total") or {}).items() if amount is not None}

    def fetch_time(self) -> int:
        """The venue's clock, ms UTC."""
        return int(self._run(self._timed(read(self.exchange, self.retry, "fetch_time", self.exchange.fetch_time))))

    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None, limit: int) -> list[Candle]:
        """Candles of ``symbol`` from ``since_ms`` (or the latest ``limit``), oldest first; may
        include the forming candle: callers keep only those closed by the venue's clock."""
        rows = self._run(read(self.exchange, self.retry, f"fetch_ohlcv {symbol} {timeframe}",
                              self.exchange.fetch_ohlcv, self.venue_symbol(symbol), timeframe, since_ms, limit))
        return [Candle(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5] or 0)) for r in rows]

    def fetch_funding_rates(self, symbol: str, since_ms: int, until_ms: int,
                            limit: int | None = None) -> list[tuple[int, Decimal]]:
        """The perpetual's funding rates published in ``[since_ms, until_ms)`` (ms UTC), oldest
        first, at most ``limit`` (None: the venue's default page, 100 on Binance):
        ``(funding time ms UTC, rate as a fraction of the notional)``; ccxt
        ``fetch_funding_rate_history`` (Binance ``GET /fapi/v1/fundingRate``, public).

        Raises:
            VenueError, VenueUnavailable: the venue refused or did not answer (after retries).
        """
        rows = self._run(read(self.exchange, self.retry, f"fetch_funding_rate_history {symbol}",
                              self.exchange.fetch_funding_rate_history, self.venue_symbol(symbol), since_ms, limit,
                              {"endTime": until_ms - 1}))
        return [(int(r["timestamp"]), dec(r["fundingRate"])) for r in rows
                if since_ms <= int(r["timestamp"]) < until_ms]

    async def _timed(self, coro):
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            return await coro
        finally:
            self.last_latency_ms = (loop.time() - start) * 1000


_MARKET_OPTIONS = {
    "spot": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}},
    "futures": {"defaultType": "swap", "defaultSubType": "linear", "fetchMarkets": {"types": ["linear"]}},
}
"""ccxt options per market type: which markets are loaded and which API a call goes to."""


class _LocalReject(Exception):
    """An order the venue's rules would refuse; never sent."""


def _step(precision) -> Decimal | None:
    """ccxt TICK_SIZE precision (0.01) as a Decimal step; None when unknown."""
    return None if precision is None else dec(precision)


def _rewrite_hosts(urls: dict, base: str) -> None:
    for key, value in urls.items():
        if isinstance(value, dict):
            _rewrite_hosts(value, base)
        elif isinstance(value, str) and value.startswith("https://"):
            path = value.split("/", 3)[3] if value.count("/") >= 3 else ""
            urls[key] = f"{base}/{path}"


_API_TYPES = (("/fapi/", "linear"), ("/dapi/", "inverse"), ("/eapi/", "option"), ("/papi/", "portfolioMargin"),
              ("/api/", "spot"), ("/sapi/", "spot"))
"""Binance API path prefixes and the market type whose error codes they answer with."""


def _exceptions_by_path(ex, url: str | None, kind: str) -> dict:
    """ccxt binance's per-market-type error map (``exact``/``broad``) for ``url``, told by its
    path: with a rewritten host (``api_url``) ccxt cannot tell it by the host, and a futures
    refusal (-2019 margin insufficient, -2022 reduce-only rejected) would read as an unknown
    outcome."""
    path = "/" + (url or "").split("/", 3)[-1] if url and url.count("/") >= 3 else ""
    for prefix, market_type in _API_TYPES:
        if path.startswith(prefix):
            return (ex.exceptions.get(market_type) or {}).get(kind) or {}
    return {}


def _venue_text(exc: Exception) -> str:
    text = str(exc)
    if "{" in text and '"msg"' in text:
        return text[text.index("{"):]
    return text[:240]


__all__ = ["CcxtGateway", "VenueOrder", "VenueUnavailable"]


async def _own_decimal_context(coro):
    """Await ``coro`` with a decimal context of its own. The task inherits the caller's
    contextvars, so it would share the caller's decimal Context object, and ccxt's
    decimal_to_precision mutates that object in place (ROUND_HALF_UP, an Underflow trap)."""
    setcontext(Context())
    return await coro
