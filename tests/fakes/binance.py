"""A fake Binance spot REST venue on 127.0.0.1, for driving the real ccxt ``binance`` class offline.

It speaks the subset of the Binance spot API the ccxt gateway uses, in Binance's own wire
shapes (taken from the real payloads in ``shared/data/fixtures/ccxt/``):

* ``GET /api/v3/exchangeInfo``: the real 2021 capture (BTCUSDT, ETHUSDT, their filters);
* ``GET /api/v3/time``, ``/api/v3/ping``;
* ``GET /api/v3/klines``: the real OHLCV files, up to the fake's clock (the forming candle is
  included, as Binance does; a client must drop it);
* ``POST/GET/DELETE /api/v3/order``, ``GET /api/v3/openOrders``, ``GET /api/v3/myTrades``,
  ``GET /api/v3/account``: a matching engine over those candles. Market orders fill at once at the
  open of the forming candle; the commission is charged in the asset received (base on buys,
  quote on sells), as Binance does without BNB. Limit orders rest until a candle crosses them.
  Client order ids are unique among *open* orders only (Binance's rule), so re-sending a filled
  order's id creates a second order: the client must look before it resends.
* USD-M futures, public endpoints only (a dry run of a perpetual): ``GET /fapi/v1/exchangeInfo``
  (a real 2022 capture: the BTCUSDT and ETHUSDT perpetuals), ``/fapi/v1/time``,
  ``/fapi/v1/ping``, ``/fapi/v1/klines`` (the same candles as spot: the tests say so) and
  ``/fapi/v1/fundingRate`` (real BTCUSDT funding rates, from ``tests/fixtures/futures``);
* Anything else answers Binance's ``-1100`` with HTTP 400.

Errors use the texts of Binance's error catalogue (``binance-docs/error_payloads.json``).
Faults are scripted per endpoint with :meth:`FakeBinance.inject` (see :data:`FAULTS`).
Signatures are not checked.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pandas as pd

FUTURES_FIXTURES = Path(__file__).parents[1] / "fixtures/futures"
"""Real Binance USD-M payloads (see its README)."""

FAULTS = {
    "timeout_before": "sleep past the client's timeout without acting",
    "timeout_after": "act, then sleep past the client's timeout",
    "drop_before": "close the connection without acting",
    "drop_after": "act, then close the connection without answering",
    "http_429": "HTTP 429 with Retry-After: 1 and Binance's -1003",
    "http_418": "HTTP 418 (IP ban) with Retry-After: 1 and -1003",
    "http_503": "HTTP 503 (Binance internal error, execution status unknown)",
    "unknown_1007": "act, then answer HTTP 400 with -1007 (execution status unknown)",
    "maintenance": "HTTP 503 with a maintenance body (system upgrading)",
    "kill_before": "SIGKILL the process given as kill_pid, without acting",
    "kill_after": "act, then SIGKILL kill_pid before answering",
    "timestamp_1021": "HTTP 400 with -1021 (timestamp outside recvWindow), without acting",
}
"""Injectable faults and what each does."""

ACT_FIRST = {"timeout_after", "drop_after", "unknown_1007", "kill_after"}
REFUSE = {"http_429", "http_418", "maintenance", "maintenance_window", "timestamp_1021"}
"""Faults that refuse an order or cancel without acting (a GET still reads, harmlessly)."""


@dataclass
class ChaosPlan:
    """Random faults at a seeded rate: each request draws one fault with probability ``rate``
    from the kinds allowed for its method (a failure replays exactly with the same seed).

    Besides single faults: a market order is filled in several trades with probability
    ``split_prob`` (partial fills in one answer), or answered ``NEW`` and filled only
    ``delay_ms`` of venue time later with probability ``delay_prob`` (a delayed fill); and with
    probability ``window_prob`` per request a maintenance window of ``window_secs`` (wall)
    begins, in which every request answers 503 maintenance."""

    seed: int
    rate: float
    kinds: dict[str, tuple[str, ...]]
    """method ("GET", "POST", "DELETE") -> fault kinds to draw from."""
    split_prob: float = 0.0
    delay_prob: float = 0.0
    delay_ms: tuple[int, int] = (60_000, 600_000)
    window_prob: float = 0.0
    window_secs: tuple[float, float] = (1.0, 4.0)

    def __post_init__(self) -> None:
        import random

        self.rng = random.Random(self.seed)
        self.window_until = 0.0

    def draw(self, method: str) -> str | None:
        now = time.monotonic()
        if now < self.window_until:
            return "maintenance_window"
        if self.window_prob and self.rng.random() < self.window_prob:
            self.window_until = now + self.rng.uniform(*self.window_secs)
            return "maintenance_window"
        kinds = self.kinds.get(method, ())
        if kinds and self.rng.random() < self.rate:
            return self.rng.choice(kinds)
        return None


def _dec(x) -> Decimal:
    return Decimal(str(x))


def _fmt(x: Decimal) -> str:
    return f"{x:.8f}"


_STOP_TYPES = ("STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
"""Accepted and kept resting with their stop price. A ``STOP_LOSS_LIMIT`` sell triggers when a
later candle's low reaches its stop and then fills at its limit price (the pessimistic end of
what a real one gets); ``TAKE_PROFIT_LIMIT`` never triggers here."""


@dataclass
class VenueOrder:
    """One order on the fake venue."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    orig_qty: Decimal
    price: Decimal
    time_ms: int
    quote_qty: Decimal = Decimal(0)
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    status: str = "NEW"
    update_ms: int = 0
    fills: list = field(default_factory=list)
    stop_price: Decimal = Decimal(0)
    hold_price: Decimal = Decimal(0)
    """A delayed market order: the price it will fill at (funds held meanwhile)."""
    due_ms: int = 0
    """A delayed market order: venue time its fill lands."""

    def wire(self) -> dict:
        """The GET /api/v3/order shape."""
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_order_id, "price": _fmt(self.price), "origQty": _fmt(self.orig_qty),
            "executedQty": _fmt(self.executed_qty), "cummulativeQuoteQty": _fmt(self.cum_quote),
            "status": self.status, "timeInForce": "GTC", "type": self.type, "side": self.side,
            "stopPrice": _fmt(self.stop_price), "icebergQty": "0.00000000", "time": self.time_ms,
            "updateTime": self.update_ms or self.time_ms, "isWorking": True, "workingTime": self.time_ms,
            "origQuoteOrderQty": _fmt(self.quote_qty), "selfTradePreventionMode": "NONE",
        }


class BinanceError(Exception):
    """An error answer: HTTP status and Binance body."""

    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class FakeBinance:
    """The venue's state and matching; :meth:`start` serves it over HTTP.

    Args:
        fixtures: the shared ``data/fixtures`` folder.
        candles: exchange symbol ("BTCUSDT") -> real 1m (or any timeframe) OHLCV DataFrame with
            integer ms ``timestamp`` and float OHLCV columns.
        tf_ms: candle length of those frames.
        now_ms: the fake's clock start; moved by :meth:`advance` or, with ``speed``, by wall time.
        speed: venue ms per wall ms (0: manual clock only).
        balances: asset -> free amount at start.
    """

    def __init__(self, fixtures: Path, candles: dict[str, pd.DataFrame], tf_ms: int, now_ms: int,
                 balances: dict[str, str], speed: float = 0.0):
        self.fixtures = fixtures
        self.exchange_info = json.loads((fixtures / "ccxt/binance-http/nautilus-tests-2021/"
                                         "http_spot_market_exchange_info.json").read_text())
        self.filters = {s["symbol"]: {f["filterType"]: f for f in s["filters"]} for s in self.exchange_info["symbols"]}
        self.assets = {s["symbol"]: (s["baseAsset"], s["quoteAsset"]) for s in self.exchange_info["symbols"]}
        self.error_texts = json.loads((fixtures / "ccxt/binance-docs/error_payloads.json").read_text())
        self.futures_info = json.loads((FUTURES_FIXTURES / "binance_fapi_exchange_info.json").read_text())
        self.funding_rates: list[dict] = json.loads((FUTURES_FIXTURES / "binance_fapi_funding_rate.json").read_text())
        """Binance ``/fapi/v1/fundingRate`` rows (symbol, fundingRate, fundingTime), ascending."""
        self.candles = {sym: df.reset_index(drop=True) for sym, df in candles.items()}
        self._ts = {sym: df["timestamp"].to_numpy() for sym, df in self.candles.items()}
        self.tf_ms = tf_ms
        self._clock0, self._wall0, self.speed = now_ms, time.monotonic(), speed
        self.free = {a: _dec(v) for a, v in balances.items()}
        self.locked: dict[str, Decimal] = {}
        self.orders: dict[int, VenueOrder] = {}
        self.trades: list[dict] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.faults: dict[str, list[str]] = {}
        self.chaos: ChaosPlan | None = None
        self.injected: dict[str, int] = {}
        """Faults served, by kind (scripted and random)."""
        self.kill_pid: int | None = None
        self.fault_sleep_secs = 2.0
        self.duplicate_fill_reports = False
        self.refused_types: set[str] = set()
        """Order types this venue refuses with -1116 (a venue without native stops)."""
        self.lock = threading.RLock()
        self._next_order_id = 1000
        self._next_trade_id = 5000
        self.server: ThreadingHTTPServer | None = None

    # ----- clock and market -------------------------------------------------------------------
    def now_ms(self) -> int:
        """The venue's clock, ms UTC."""
        if self.speed:
            return int(self._clock0 + (time.monotonic() - self._wall0) * 1000 * self.speed)
        return self._clock0

    def advance(self, ms: int) -> None:
        """Move a manual clock forward and match resting orders against the candles passed."""
        with self.lock:
            self._clock0 += ms
            self._match_resting()

    def forming(self, symbol: str) -> pd.Series | None:
        """The candle containing the venue's clock (None inside a data gap)."""
        idx = int(self._ts[symbol].searchsorted(self.now_ms(), side="right")) - 1
        if idx < 0:
            return None
        row = self.candles[symbol].iloc[idx]
        return row if row["timestamp"] + self.tf_ms > self.now_ms() else None

    # ----- faults -----------------------------------------------------------------------------
    def inject(self, endpoint: str, *faults: str) -> None:
        """Queue faults for the next calls of ``endpoint`` ("POST /api/v3/order"), one per call."""
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {sorted(FAULTS)}")
        with self.lock:
            self.faults.setdefault(endpoint, []).extend(faults)

    def _take_fault(self, endpoint: str) -> str | None:
        with self.lock:
            queue = self.faults.get(endpoint)
            fault = queue.pop(0) if queue else None
            if fault is None and self.chaos is not None and not endpoint.endswith("/exchangeInfo"):
                fault = self.chaos.draw(endpoint.split()[0])
            if fault is not None:
                self.injected[fault] = self.injected.get(fault, 0) + 1
            return fault

    def error(self, code: int, contains: str = "", status: int = 400) -> BinanceError:
        """A :class:`BinanceError` carrying the catalogue's text for ``code``."""
        for e in self.error_texts:
            if e["code"] == code and contains in e["msg"]:
                return BinanceError(status, code, e["msg"])
        raise KeyError(f"no Binance error {code} containing {contains!r} in the catalogue")

    # ----- endpoints --------------------------------------------------------------------------
    def handle(self, method: str, path: str, params: dict) -> object:
        """Answer one request (no faults here); raises :class:`BinanceError`."""
        with self.lock:
            self.requests.append((method, path, params))
            self._match_resting()
            self._settle()
            route = self.routes().get((method, path))
            if route is None:
                raise self.error(-1100, "Illegal characters found in a parameter.")
            return route(params)

    def _settle(self) -> None:
        """Venue-side bookkeeping due at the clock before a request is answered (none on spot)."""

    def routes(self) -> dict:
        """(method, path) -> handler of the request's parameters."""
        return {
            ("GET", "/api/v3/ping"): lambda p: {},
            ("GET", "/api/v3/time"): lambda p: {"serverTime": self.now_ms()},
            ("GET", "/api/v3/exchangeInfo"): lambda p: {**self.exchange_info, "serverTime": self.now_ms()},
            ("GET", "/api/v3/klines"): self._klines,
            ("POST", "/api/v3/order"): self._new_order,
            ("GET", "/api/v3/order"): self._get_order,
            ("DELETE", "/api/v3/order"): self._cancel_order,
            ("GET", "/api/v3/openOrders"): self._open_orders,
            ("GET", "/api/v3/myTrades"): self._my_trades,
            ("GET", "/api/v3/account"): self._account,
            ("GET", "/fapi/v1/ping"): lambda p: {},
            ("GET", "/fapi/v1/time"): lambda p: {"serverTime": self.now_ms()},
            ("GET", "/fapi/v1/exchangeInfo"): lambda p: {**self.futures_info, "serverTime": self.now_ms()},
            ("GET", "/fapi/v1/klines"): self._klines,
            ("GET", "/fapi/v1/fundingRate"): self._funding_rate,
        }

    def _klines(self, p: dict) -> list:
        sym = p["symbol"]
        if sym not in self.candles:
            raise BinanceError(400, -1121, "Invalid symbol.")
        df, now = self.candles[sym], self.now_ms()
        start = int(p.get("startTime", 0))
        limit = min(int(p.get("limit", 500)), 1000)
        rows = df[(df["timestamp"] >= start) & (df["timestamp"] <= now)]
        rows = rows.head(limit) if "startTime" in p else rows.tail(limit)
        return [[int(r.timestamp), repr(r.open), repr(r.high), repr(r.low), repr(r.close), repr(r.volume),
                 int(r.timestamp) + self.tf_ms - 1, "0", 0, "0", "0", "0"] for r in rows.itertuples()]

    def _funding_rate(self, p: dict) -> list:
        """Published rates only (funding time at or before the clock), Binance's filters."""
        start, end = int(p.get("startTime", 0)), int(p.get("endTime", self.now_ms()))
        rows = [r for r in self.funding_rates if r["symbol"] == p.get("symbol", r["symbol"])
                and start <= r["fundingTime"] <= min(end, self.now_ms())]
        return rows[:min(int(p.get("limit", 100)), 1000)]

    def _new_order(self, p: dict) -> dict:
        sym, side, otype = p["symbol"], p["side"], p["type"]
        if otype not in ("MARKET", "LIMIT", *_STOP_TYPES) or otype in self.refused_types:
            raise self.error(-1116, "Invalid orderType")
        if otype in _STOP_TYPES and "stopPrice" not in p:
            raise self.error(-1102, "Mandatory parameter '%s'")
        cid = p.get("newClientOrderId") or f"x-{self._next_order_id}"
        if any(o.client_order_id == cid and o.status in ("NEW", "PARTIALLY_FILLED") for o in self.orders.values()):
            raise self.error(-2010, "Duplicate order sent.")
        filt = self.filters[sym]
        base, quote = self.assets[sym]
        candle = self.forming(sym)
        if candle is None:
            raise self.error(-2010, "Market is closed.")
        ref = _dec(repr(float(candle["open"])))
        price = _dec(p["price"]) if "price" in p else ref
        step = _dec(filt["LOT_SIZE"]["stepSize"]).normalize()
        if "quoteOrderQty" in p:
            qty = (_dec(p["quoteOrderQty"]) / price).quantize(step, rounding=ROUND_DOWN)
        else:
            qty = _dec(p["quantity"])
            if qty % step:
                raise self.error(-1013, "Filter failure: LOT_SIZE")
        if qty < _dec(filt["LOT_SIZE"]["minQty"]):
            raise self.error(-1013, "Filter failure: LOT_SIZE")
        if qty * price < _dec(filt["MIN_NOTIONAL"]["minNotional"]):
            raise self.error(-1013, "Filter failure: NOTIONAL")
        stop = _dec(p.get("stopPrice", 0))
        if otype == "STOP_LOSS_LIMIT" and (stop >= ref if side == "SELL" else stop <= ref):
            raise self.error(-2010, "Order would trigger immediately")
        need_asset, need = (quote, qty * price) if side == "BUY" else (base, qty)
        if self.free.get(need_asset, Decimal(0)) < need:
            raise self.error(-2010, "Account has insufficient balance for requested action.")
        self._next_order_id += 1
        now = self.now_ms()
        order = VenueOrder(self._next_order_id, cid, sym, side, otype, qty,
                           price if otype != "MARKET" else Decimal(0), now,
                           quote_qty=_dec(p.get("quoteOrderQty", 0)), stop_price=stop)
        self.orders[order.order_id] = order
        if otype != "MARKET" or self._fill_market(order, price, step) == "delayed":
            self.free[need_asset] -= need  # funds held while it rests (or until the delayed fill)
            self.locked[need_asset] = self.locked.get(need_asset, Decimal(0)) + need
            self._match_resting()
        body = order.wire()
        body["transactTime"] = now
        body["fills"] = [{"price": t["price"], "qty": t["qty"], "commission": t["commission"],
                          "commissionAsset": t["commissionAsset"], "tradeId": t["id"]} for t in order.fills]
        return body

    def _fill_market(self, order: VenueOrder, price: Decimal, step: Decimal) -> str:
        """Fill a new market order at ``price`` now, or as the chaos plan draws: ``delayed``
        (answered NEW, filled ``delay_ms`` of venue time later) or ``split`` (several trades
        in one answer, cut on the amount ``step``). Returns which: filled, delayed or split."""
        plan, qty = self.chaos, order.orig_qty
        if plan is not None and plan.delay_prob and plan.rng.random() < plan.delay_prob:
            order.hold_price, order.due_ms = price, self.now_ms() + plan.rng.randint(*plan.delay_ms)
            self.injected["delayed_fill"] = self.injected.get("delayed_fill", 0) + 1
            return "delayed"
        if plan is not None and plan.split_prob and plan.rng.random() < plan.split_prob:
            first = (qty * _dec(plan.rng.uniform(0.2, 0.8))).quantize(step, rounding=ROUND_DOWN)
            for part in (first, qty - first) if 0 < first < qty else (qty,):
                self._execute(order, part, price)
            self.injected["split_fill"] = self.injected.get("split_fill", 0) + 1
            return "split"
        self._execute(order, qty, price)
        return "filled"

    def _find(self, p: dict) -> VenueOrder:
        if "orderId" in p:
            order = self.orders.get(int(p["orderId"]))
        else:
            cid = p.get("origClientOrderId")
            matches = [o for o in self.orders.values() if o.client_order_id == cid and o.symbol == p["symbol"]]
            order = matches[-1] if matches else None
        if order is None:
            raise self.error(-2013, "Order does not exist.")
        return order

    def _wire(self, order: VenueOrder) -> dict:
        """An order as this venue's order endpoints show it."""
        return order.wire()

    def _get_order(self, p: dict) -> dict:
        return self._wire(self._find(p))

    def _cancel_order(self, p: dict) -> dict:
        try:
            order = self._find(p)
        except BinanceError:
            raise self.error(-2011, "Unknown order sent.") from None
        if order.status not in ("NEW", "PARTIALLY_FILLED"):
            raise self.error(-2011, "Unknown order sent.")
        self._release(order)
        order.status, order.update_ms = "CANCELED", self.now_ms()
        body = self._wire(order)
        body["origClientOrderId"] = order.client_order_id
        return body

    def _open_orders(self, p: dict) -> list:
        return [self._wire(o) for o in self.orders.values()
                if o.status in ("NEW", "PARTIALLY_FILLED") and ("symbol" not in p or o.symbol == p["symbol"])]

    def _my_trades(self, p: dict) -> list:
        rows = [t for t in self.trades if t["symbol"] == p["symbol"]
                and ("orderId" not in p or t["orderId"] == int(p["orderId"]))
                and t["time"] >= int(p.get("startTime", 0))]
        if self.duplicate_fill_reports:
            rows = rows + rows
        return rows[: int(p.get("limit", 500))]

    def _account(self, p: dict) -> dict:
        assets = sorted(set(self.free) | set(self.locked))
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "canTrade": True, "canWithdraw": True, "canDeposit": True, "updateTime": self.now_ms(),
                "accountType": "SPOT", "permissions": ["SPOT"],
                "balances": [{"asset": a, "free": _fmt(self.free.get(a, Decimal(0))),
                              "locked": _fmt(self.locked.get(a, Decimal(0)))} for a in assets]}

    # ----- matching ---------------------------------------------------------------------------
    FEE_RATE = Decimal("0.001")

    def _execute(self, order: VenueOrder, qty: Decimal, price: Decimal, from_locked: bool = False) -> None:
        """Trade ``qty`` of ``order`` at ``price``; commission in the asset received."""
        base, quote = self.assets[order.symbol]
        notional = qty * price
        pay_asset, pay, get_asset, get = (quote, notional, base, qty) if order.side == "BUY" else (base, qty, quote, notional)
        fee = (get * self.FEE_RATE).quantize(Decimal("1e-8"))
        book = self.locked if from_locked else self.free
        book[pay_asset] = book.get(pay_asset, Decimal(0)) - pay
        self.free[get_asset] = self.free.get(get_asset, Decimal(0)) + get - fee
        self._next_trade_id += 1
        trade = {"symbol": order.symbol, "id": self._next_trade_id, "orderId": order.order_id, "orderListId": -1,
                 "price": _fmt(price), "qty": _fmt(qty), "quoteQty": _fmt(notional), "commission": _fmt(fee),
                 "commissionAsset": get_asset, "time": self.now_ms(), "isBuyer": order.side == "BUY",
                 "isMaker": order.type == "LIMIT", "isBestMatch": True}
        self.trades.append(trade)
        order.fills.append(trade)
        order.executed_qty += qty
        order.cum_quote += notional
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED"
        order.update_ms = self.now_ms()

    def fill_partially(self, client_order_id: str, qty: str) -> None:
        """Venue-side event for tests: trade ``qty`` of a resting limit order at its price."""
        with self.lock:
            order = next(o for o in self.orders.values() if o.client_order_id == client_order_id)
            self._execute(order, _dec(qty), order.price, from_locked=True)

    def drop(self, client_order_id: str) -> None:
        """Venue-side event for tests: the venue expires an open order on its own (as exchanges
        do to stop orders in maintenance or after a delisting), releasing its funds."""
        with self.lock:
            order = next(o for o in self.orders.values() if o.client_order_id == client_order_id
                         and o.status in ("NEW", "PARTIALLY_FILLED"))
            self._release(order)
            order.status, order.update_ms = "EXPIRED", self.now_ms()

    def _release(self, order: VenueOrder) -> None:
        base, quote = self.assets[order.symbol]
        price = order.price or order.hold_price
        asset, amount = (quote, (order.orig_qty - order.executed_qty) * price) if order.side == "BUY" \
            else (base, order.orig_qty - order.executed_qty)
        self.locked[asset] -= amount
        self.free[asset] = self.free.get(asset, Decimal(0)) + amount

    def _match_resting(self) -> None:
        for order in self.orders.values():
            if order.type == "MARKET" and order.status == "NEW" and order.due_ms and order.due_ms <= self.now_ms():
                self._execute(order, order.orig_qty, order.hold_price, from_locked=True)  # the delayed fill lands
                continue
            if order.type == "STOP_LOSS_LIMIT" and order.side == "SELL" and order.status == "NEW":
                candle = self.forming(order.symbol)
                if candle is not None and candle["timestamp"] > order.time_ms \
                        and candle["low"] <= float(order.stop_price):  # a candle opened after it was placed
                    self._execute(order, order.orig_qty, order.price, from_locked=True)  # triggered, filled at its limit
                continue
            if order.type != "LIMIT" or order.status not in ("NEW", "PARTIALLY_FILLED"):
                continue
            candle = self.forming(order.symbol)
            if candle is None or candle["timestamp"] <= order.time_ms - self.tf_ms:
                continue
            crossed = candle["low"] <= float(order.price) if order.side == "BUY" else candle["high"] >= float(order.price)
            if crossed:
                self._execute(order, order.orig_qty - order.executed_qty, order.price, from_locked=True)

    def place_external(self, symbol: str, side: str, qty: str, price: str, client_order_id: str = "web_manual_1") -> int:
        """An order placed by someone else (the website, another bot) on this account."""
        return self.handle("POST", "/api/v3/order", {"symbol": symbol, "side": side, "type": "LIMIT",
                                                     "quantity": qty, "price": price, "timeInForce": "GTC",
                                                     "newClientOrderId": client_order_id})["orderId"]

    # ----- HTTP -------------------------------------------------------------------------------
    def start(self) -> str:
        """Serve on an ephemeral port of 127.0.0.1 in a daemon thread; returns the base URL."""
        venue = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                params = dict(parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    params.update(parse_qsl(self.rfile.read(length).decode()))
                fault = venue._take_fault(f"{method} {url.path}")
                if fault in ("timeout_before", "drop_before", "kill_before"):
                    return self._fail_early(fault)
                if fault in REFUSE and method != "GET":
                    return self._refuse(fault)
                try:
                    status, body = 200, venue.handle(method, url.path, params)
                except BinanceError as exc:
                    status, body = exc.status, {"code": exc.code, "msg": exc.msg}
                if fault in ACT_FIRST:
                    return self._fail_late(fault)
                if fault == "http_503":
                    status, body = 503, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
                elif fault in REFUSE:
                    return self._refuse(fault)
                self._answer(status, body)

            def _refuse(self, fault: str) -> None:
                if fault in ("http_429", "http_418"):
                    status, body = int(fault[-3:]), {"code": -1003, "msg": "Too many requests queued."}
                elif fault in ("maintenance", "maintenance_window"):
                    status, body = 503, {"code": 1, "msg": "System is under maintenance."}
                else:
                    err = venue.error(-1021, "outside of the recvWindow")
                    status, body = 400, {"code": err.code, "msg": err.msg}
                self._answer(status, body, retry_after=fault in ("http_429", "http_418"))

            def _fail_early(self, fault: str) -> None:
                if fault == "kill_before":
                    os.kill(venue.kill_pid, signal.SIGKILL)
                    time.sleep(0.2)
                if fault == "timeout_before":
                    time.sleep(venue.fault_sleep_secs)
                self.close_connection = True

            def _fail_late(self, fault: str) -> None:
                if fault == "kill_after":
                    os.kill(venue.kill_pid, signal.SIGKILL)
                    time.sleep(0.2)
                elif fault == "timeout_after":
                    time.sleep(venue.fault_sleep_secs)
                elif fault == "unknown_1007":
                    err = venue.error(-1007, "execution status unknown")
                    return self._answer(400, {"code": err.code, "msg": err.msg})
                self.close_connection = True

            def _answer(self, status: int, body: object, retry_after: bool = False) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # ----- views for assertions -----------------------------------------------------------------
    def orders_by_client_id(self, client_order_id: str) -> list[VenueOrder]:
        """Every venue order that carried ``client_order_id`` (more than one means a duplicate)."""
        with self.lock:
            return [o for o in self.orders.values() if o.client_order_id == client_order_id]

    def total(self, asset: str) -> Decimal:
        """Free plus locked balance of ``asset``."""
        with self.lock:
            return self.free.get(asset, Decimal(0)) + self.locked.get(asset, Decimal(0))
