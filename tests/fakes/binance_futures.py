"""A fake Binance USD-M futures account on 127.0.0.1, for driving ccxt's ``binance`` class
(``defaultType: swap``) through live futures trading offline.

It extends :class:`tests.fakes.binance.FakeBinance` (its clock, candles, faults, chaos plan
and HTTP server, and its public ``/fapi`` endpoints) with the private USD-M endpoints ccxt
4.5 calls, in Binance's wire shapes: the order and trade rows of nautilus_trader's real
captures (``http_futures_account_orders.json``, ``http_futures_account_trades.json``), the
position row of ``http_futures_account_positions_one_way.json``, and the income, account and
leverage-bracket rows of Binance's USD-M API documentation:

* ``POST /fapi/v1/leverage``, ``POST /fapi/v1/marginType`` (``-4046`` when unchanged,
  ``-4048`` with a position open), ``GET /fapi/v1/positionSide/dual`` (one-way by default);
* ``POST/GET/DELETE /fapi/v1/order``, ``GET /fapi/v1/openOrders``, ``GET /fapi/v1/userTrades``;
* ``GET /fapi/v3/account`` (the USDT wallet), ``GET /fapi/v3/positionRisk`` (one-way positions),
  ``GET /fapi/v1/leverageBracket`` (the real tiers of ``gateways/samples``);
* ``GET /fapi/v1/income`` (``FUNDING_FEE`` rows): at each real funding time of
  ``/fapi/v1/fundingRate`` that the clock passes, an open position pays or receives
  ``positionAmt x mark x rate`` (the mark is the open of the candle containing the funding
  time), from its isolated margin and the wallet.

Accounting (one-way mode, isolated margin): an opening fill adds ``qty x price / leverage`` of
margin; a reducing fill realizes ``(price - entry) x qty`` (long) or ``(entry - price) x qty``
(short) into the wallet; the commission (:attr:`FEE_RATE` of the notional) is USDT, taken
from the wallet. ``reduceOnly`` orders that would not reduce the position are refused with
``-2022``; an opening order whose margin the available balance does not cover with ``-2019``.
The venue does not liquidate.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd

from tests.fakes.binance import BinanceError, FakeBinance, VenueOrder, _dec, _fmt

TIERS = Path(__file__).parents[2] / "gateways/samples/binance_leverage_tiers.json"
"""Real Binance USD-M tiers (ccxt's ``fetch_leverage_tiers`` rows, with Binance's raw bracket
in ``info``)."""

FUTURES_ERRORS = {
    -2019: "Margin is insufficient.",
    -2022: "ReduceOnly Order is rejected.",
    -4046: "No need to change margin type.",
    -4048: "Margin type cannot be changed if there exists position.",
    -4116: "ClientOrderId is duplicated.",
    -4164: "Order's notional must be no smaller than 10 (unless you choose reduce only).",
}
"""USD-M error texts as Binance sends them (its futures error-code page; ccxt's exception map
quotes the same texts). The spot catalogue of ``shared/data`` has none of them."""


class FakeBinanceFutures(FakeBinance):
    """A USD-M futures account (see the module docstring).

    Args:
        fixtures, candles, tf_ms, now_ms, speed: as :class:`FakeBinance` (``candles`` keyed by
            the perpetual's id, "BTCUSDT").
        wallet: the USDT wallet balance at start.
    """

    FEE_RATE = Decimal("0.0004")

    def __init__(self, fixtures: Path, candles: dict[str, pd.DataFrame], tf_ms: int, now_ms: int,
                 wallet: str = "1000", speed: float = 0.0):
        super().__init__(fixtures, candles, tf_ms, now_ms, {}, speed=speed)
        self.wallet = _dec(wallet)
        self.positions: dict[str, dict[str, Decimal]] = {}
        """symbol -> {"amt": signed base qty, "entry": entry price, "margin": isolated margin}."""
        self.leverage: dict[str, int] = {}
        self.margin_type: dict[str, str] = {}
        self.dual_side = False
        self.income: list[dict] = []
        self._funded_through = now_ms
        self._next_tran_id = 9_689_322_000
        self.ffilters = {s["symbol"]: {f["filterType"]: f for f in s["filters"]} for s in self.futures_info["symbols"]}
        tiers = json.loads(TIERS.read_text())
        self.brackets = [{"symbol": sym.split("/")[0] + "USDT",
                          "brackets": [{k: (float(v) if k in ("notionalCap", "notionalFloor", "maintMarginRatio", "cum")
                                            else int(v)) for k, v in t["info"].items()} for t in rows]}
                         for sym, rows in tiers.items()]

    def ferror(self, code: int) -> BinanceError:
        """A USD-M error answer (:data:`FUTURES_ERRORS`)."""
        return BinanceError(400, code, FUTURES_ERRORS[code])

    # ----- routing ----------------------------------------------------------------------------
    def routes(self) -> dict:
        return super().routes() | {
            ("POST", "/fapi/v1/leverage"): self._set_leverage,
            ("POST", "/fapi/v1/marginType"): self._set_margin_type,
            ("GET", "/fapi/v1/positionSide/dual"): lambda p: {"dualSidePosition": self.dual_side},
            ("POST", "/fapi/v1/order"): self._new_order,
            ("GET", "/fapi/v1/order"): self._get_order,
            ("DELETE", "/fapi/v1/order"): self._cancel_order,
            ("GET", "/fapi/v1/openOrders"): self._open_orders,
            ("GET", "/fapi/v1/userTrades"): self._my_trades,
            ("GET", "/fapi/v3/account"): self._account,
            ("GET", "/fapi/v3/positionRisk"): self._position_risk,
            ("GET", "/fapi/v1/leverageBracket"): lambda p: self.brackets,
            ("GET", "/fapi/v1/income"): self._income,
        }

    # ----- account settings -------------------------------------------------------------------
    def _set_leverage(self, p: dict) -> dict:
        sym = p["symbol"]
        self.leverage[sym] = int(p["leverage"])
        return {"leverage": self.leverage[sym], "maxNotionalValue": "1000000", "symbol": sym}

    def _set_margin_type(self, p: dict) -> dict:
        sym, kind = p["symbol"], p["marginType"].lower()
        if self.margin_type.get(sym, "crossed") == kind:
            raise self.ferror(-4046)
        if self.positions.get(sym, {}).get("amt"):
            raise self.ferror(-4048)
        self.margin_type[sym] = kind
        return {"code": 200, "msg": "success"}

    # ----- orders -----------------------------------------------------------------------------
    def _new_order(self, p: dict) -> dict:
        sym, side, otype = p["symbol"], p["side"], p["type"]
        if otype not in ("MARKET", "LIMIT") or otype in self.refused_types:
            raise self.error(-1116, "Invalid orderType")
        cid = p.get("newClientOrderId") or f"x-{self._next_order_id}"
        if any(o.client_order_id == cid and o.status in ("NEW", "PARTIALLY_FILLED") for o in self.orders.values()):
            raise self.ferror(-4116)
        filt = self.ffilters[sym]
        candle = self.forming(sym)
        if candle is None:
            raise self.error(-2010, "Market is closed.")
        ref = _dec(repr(float(candle["open"])))
        price = _dec(p["price"]) if otype == "LIMIT" else ref
        lot = filt["MARKET_LOT_SIZE" if otype == "MARKET" else "LOT_SIZE"]
        qty, step = _dec(p["quantity"]), _dec(lot["stepSize"]).normalize()
        if qty % step or qty < _dec(lot["minQty"]):
            raise self.error(-1013, "Filter failure: LOT_SIZE")
        reduce_only = str(p.get("reduceOnly", "false")).lower() == "true"
        amt = self.positions.get(sym, {}).get("amt", Decimal(0))
        signed = qty if side == "BUY" else -qty
        if reduce_only:
            if not amt or (amt > 0) == (signed > 0) or qty > abs(amt):
                raise self.ferror(-2022)
        else:
            if qty * price < _dec(filt["MIN_NOTIONAL"]["notional"]):
                raise self.ferror(-4164)
            if qty * price / self._lev(sym) + qty * price * self.FEE_RATE > self._available():
                raise self.ferror(-2019)
        self._next_order_id += 1
        now = self.now_ms()
        order = VenueOrder(self._next_order_id, cid, sym, side, otype, qty,
                           price if otype == "LIMIT" else Decimal(0), now)
        order.reduce_only = reduce_only
        self.orders[order.order_id] = order
        if otype == "MARKET":
            self._fill_market(order, price, step)
        else:
            self._match_resting()
        return self._wire(order)

    def _wire(self, order: VenueOrder) -> dict:
        """The USD-M order row (nautilus' ``http_futures_account_orders.json`` shape)."""
        avg = order.cum_quote / order.executed_qty if order.executed_qty else Decimal(0)
        return {"avgPrice": _fmt(avg), "clientOrderId": order.client_order_id, "cumQuote": _fmt(order.cum_quote),
                "executedQty": _fmt(order.executed_qty), "orderId": order.order_id, "origQty": _fmt(order.orig_qty),
                "origType": order.type, "price": _fmt(order.price), "reduceOnly": getattr(order, "reduce_only", False),
                "side": order.side, "positionSide": "BOTH", "status": order.status, "stopPrice": "0",
                "closePosition": False, "symbol": order.symbol, "time": order.time_ms, "timeInForce": "GTC",
                "type": order.type, "updateTime": order.update_ms or order.time_ms, "workingType": "CONTRACT_PRICE",
                "priceProtect": False}

    def _release(self, order: VenueOrder) -> None:
        """Nothing is locked by a resting futures order here (margin is taken at the fill)."""

    def place_external(self, symbol: str, side: str, qty: str, price: str, client_order_id: str = "web_manual_1") -> int:
        """A limit order placed by someone else on this account (the website, another bot)."""
        return self.handle("POST", "/fapi/v1/order", {"symbol": symbol, "side": side, "type": "LIMIT",
                                                      "quantity": qty, "price": price, "timeInForce": "GTC",
                                                      "newClientOrderId": client_order_id})["orderId"]

    # ----- fills and positions ----------------------------------------------------------------
    def _lev(self, sym: str) -> Decimal:
        return Decimal(self.leverage.get(sym, 20))

    def _available(self) -> Decimal:
        return self.wallet - sum((p["margin"] for p in self.positions.values()), Decimal(0))

    def _execute(self, order: VenueOrder, qty: Decimal, price: Decimal, from_locked: bool = False) -> None:
        """Trade ``qty`` of ``order`` at ``price`` against the one-way position."""
        sym = order.symbol
        pos = self.positions.setdefault(sym, {"amt": Decimal(0), "entry": Decimal(0), "margin": Decimal(0)})
        signed = qty if order.side == "BUY" else -qty
        realized = Decimal(0)
        if pos["amt"] and (pos["amt"] > 0) != (signed > 0):  # reduce (and flip with what is left)
            closed = min(qty, abs(pos["amt"]))
            direction = 1 if pos["amt"] > 0 else -1
            realized = closed * (price - pos["entry"]) * direction
            pos["margin"] -= pos["margin"] * closed / abs(pos["amt"])
            pos["amt"] += closed if direction < 0 else -closed
            rest = qty - closed
            if not pos["amt"]:
                pos["entry"], pos["margin"] = Decimal(0), Decimal(0)
            if rest:
                pos["amt"], pos["entry"] = (rest if signed > 0 else -rest), price
                pos["margin"] = rest * price / self._lev(sym)
        else:  # open or add
            total = abs(pos["amt"]) + qty
            pos["entry"] = (abs(pos["amt"]) * pos["entry"] + qty * price) / total
            pos["amt"] += signed
            pos["margin"] += qty * price / self._lev(sym)
        fee = (qty * price * self.FEE_RATE).quantize(Decimal("1e-8"))
        self.wallet += realized - fee
        self._next_trade_id += 1
        trade = {"symbol": sym, "id": self._next_trade_id, "orderId": order.order_id, "side": order.side,
                 "price": _fmt(price), "qty": _fmt(qty), "realizedPnl": _fmt(realized), "marginAsset": "USDT",
                 "quoteQty": _fmt(qty * price), "commission": _fmt(fee), "commissionAsset": "USDT",
                 "time": self.now_ms(), "positionSide": "BOTH", "buyer": order.side == "BUY",
                 "maker": order.type == "LIMIT"}
        self.trades.append(trade)
        order.fills.append(trade)
        order.executed_qty += qty
        order.cum_quote += qty * price
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED"
        order.update_ms = self.now_ms()

    def _settle(self) -> None:
        """Book every published funding time the clock has passed on the open positions."""
        now = self.now_ms()
        for row in self.funding_rates:
            t = row["fundingTime"]
            if not self._funded_through < t <= now:
                continue
            pos = self.positions.get(row["symbol"])
            if not pos or not pos["amt"]:
                continue
            ts = self._ts[row["symbol"]]
            idx = int(ts.searchsorted(t, side="right")) - 1
            mark = _dec(repr(float(self.candles[row["symbol"]]["open"].iloc[max(idx, 0)])))
            income = (-pos["amt"] * mark * _dec(row["fundingRate"])).quantize(Decimal("1e-8"))
            self.wallet += income
            pos["margin"] += income
            self._next_tran_id += 1
            self.income.append({"symbol": row["symbol"], "incomeType": "FUNDING_FEE", "income": _fmt(income),
                                "asset": "USDT", "info": "FUNDING_FEE", "time": t, "tranId": self._next_tran_id,
                                "tradeId": ""})
        self._funded_through = max(self._funded_through, now)

    # ----- account views ----------------------------------------------------------------------
    def _unrealized(self, sym: str, pos: dict) -> Decimal:
        candle = self.forming(sym)
        mark = _dec(repr(float(candle["open"]))) if candle is not None else pos["entry"]
        return pos["amt"] * (mark - pos["entry"])

    def _account(self, p: dict) -> dict:
        upnl = sum((self._unrealized(s, pos) for s, pos in self.positions.items() if pos["amt"]), Decimal(0))
        margin = sum((pos["margin"] for pos in self.positions.values()), Decimal(0))
        asset = {"asset": "USDT", "walletBalance": _fmt(self.wallet), "unrealizedProfit": _fmt(upnl),
                 "marginBalance": _fmt(self.wallet + upnl), "maintMargin": "0.00000000",
                 "initialMargin": _fmt(margin), "positionInitialMargin": _fmt(margin),
                 "openOrderInitialMargin": "0.00000000", "crossWalletBalance": _fmt(self._available()),
                 "crossUnPnl": "0.00000000", "availableBalance": _fmt(self._available()),
                 "maxWithdrawAmount": _fmt(self._available()), "updateTime": self.now_ms()}
        return {"totalInitialMargin": _fmt(margin), "totalWalletBalance": _fmt(self.wallet),
                "totalUnrealizedProfit": _fmt(upnl), "totalMarginBalance": _fmt(self.wallet + upnl),
                "availableBalance": _fmt(self._available()), "assets": [asset],
                "positions": [{"symbol": s, "positionSide": "BOTH", "positionAmt": _fmt(pos["amt"]),
                               "unrealizedProfit": _fmt(self._unrealized(s, pos)), "isolatedMargin": _fmt(pos["margin"]),
                               "notional": _fmt(pos["amt"] * pos["entry"]), "isolatedWallet": _fmt(pos["margin"]),
                               "initialMargin": _fmt(pos["margin"]), "maintMargin": "0", "updateTime": self.now_ms()}
                              for s, pos in self.positions.items() if pos["amt"]]}

    def _position_risk(self, p: dict) -> list:
        """One-way positions (nautilus' ``http_futures_account_positions_one_way.json`` row)."""
        out = []
        for sym, pos in self.positions.items():
            if not pos["amt"] or p.get("symbol", sym) != sym:
                continue
            candle = self.forming(sym)
            mark = _dec(repr(float(candle["open"]))) if candle is not None else pos["entry"]
            out.append({"symbol": sym, "positionSide": "BOTH", "positionAmt": _fmt(pos["amt"]),
                        "entryPrice": _fmt(pos["entry"]), "breakEvenPrice": _fmt(pos["entry"]),
                        "markPrice": _fmt(mark), "unRealizedProfit": _fmt(self._unrealized(sym, pos)),
                        "liquidationPrice": "0", "isolatedMargin": _fmt(pos["margin"]),
                        "notional": _fmt(pos["amt"] * mark), "marginAsset": "USDT",
                        "isolatedWallet": _fmt(pos["margin"]), "initialMargin": _fmt(pos["margin"]),
                        "maintMargin": "0", "positionInitialMargin": _fmt(pos["margin"]),
                        "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0",
                        "marginType": self.margin_type.get(sym, "cross"), "leverage": str(int(self._lev(sym))),
                        "isAutoAddMargin": "false", "maxNotionalValue": "1000000", "updateTime": self.now_ms()})
        return out

    def _income(self, p: dict) -> list:
        start, end = int(p.get("startTime", 0)), int(p.get("endTime", self.now_ms()))
        rows = [r for r in self.income if start <= r["time"] <= end and p.get("symbol", r["symbol"]) == r["symbol"]
                and p.get("incomeType", r["incomeType"]) == r["incomeType"]]
        return rows[:min(int(p.get("limit", 100)), 1000)]

    def freeze(self) -> None:
        """Stop a running clock where it is (nothing more trades or funds)."""
        with self.lock:
            self._clock0, self.speed = self.now_ms(), 0.0

    # ----- views for assertions -----------------------------------------------------------------
    def position_amt(self, symbol: str) -> Decimal:
        """The signed position of ``symbol`` ("BTCUSDT"), base units."""
        with self.lock:
            return self.positions.get(symbol, {}).get("amt", Decimal(0))
