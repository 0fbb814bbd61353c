"""A live USD-M perpetual futures account through ccxt (Binance USD-M first; ADR 0017).

What differs from spot (:class:`gateways.ccxt_gateway.CcxtGateway`):

* **Start-up** (:meth:`CcxtFuturesGateway.configure`): the account must be in one-way position
  mode (a hedge-mode account is refused: the engine keeps one position per symbol); each
  traded perpetual is set to isolated margin and the configured leverage
  (``set_margin_mode``, ``set_leverage``) before any order.
* **Orders**: an entry carries a quote notional (the engine sizes entries in quote), and USD-M
  takes amounts only, so the amount is ``notional / last close`` truncated to the amount
  precision. Every order by quantity is an exit and goes ``reduceOnly``: the venue refuses
  it if it would open or grow a position, so a stale view can never turn an exit into an
  entry. Exits are not held to the minimum notional (Binance exempts reduce-only orders).
  Stop orders on the exchange are not supported on futures yet (refused before sending).
* **Fills**: a USD-M order answer carries no trades; when it reports a filled amount, the
  trades are fetched at once (``fetch_my_trades`` by order id). The commission is USDT.
* **Tiers**: :meth:`leverage_tiers` reads the account's current maintenance tiers (the
  liquidation price and the largest position a leverage allows).
* **Account**: :meth:`fetch_balances` is the futures wallet (``walletBalance``: deposits,
  realized PnL, fees and funding, not the unrealized PnL); :meth:`fetch_positions` the signed
  one-way positions; :meth:`fetch_funding_payments` the account's funding income
  (``fetch_funding_history``, Binance ``GET /fapi/v1/income``).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from engine.errors import ConfigError, VenueError, VenueUnavailable
from engine.futures import LeverageTiers
from engine.models import Order, OrderStatus, OrderType, OrderUpdate
from gateways.ccxt_errors import read
from gateways.ccxt_gateway import CcxtGateway, _LocalReject, dec

log = logging.getLogger("quantd.gateway")


class CcxtFuturesGateway(CcxtGateway):
    """Orders and account of a USD-M futures account (see the module docstring).

    Args: those of :class:`~gateways.ccxt_gateway.CcxtGateway` but ``market``.
    """

    liquidates_itself = True
    """The exchange closes a position at its liquidation price by itself; the runner must not
    simulate it (:class:`engine.runner.StrategyRunner`)."""

    def __init__(self, exchange_id: str, **kwargs):
        kwargs["market"] = "futures"
        super().__init__(exchange_id, **kwargs)

    # ----- start-up ---------------------------------------------------------------------------
    def configure(self, symbols: list[str], leverage: Decimal) -> None:
        """One-way mode checked, then isolated margin and ``leverage`` set on each symbol.

        Raises:
            ConfigError: the account is in hedge mode; leverage is not a whole number; the
                venue refused a setting (e.g. a cross-margin position is open).
            VenueUnavailable: the venue did not answer.
        """
        if leverage != leverage.to_integral_value():
            raise ConfigError(f"invalid setting futures.leverage: {leverage}: the exchange takes whole numbers")
        self.load_markets()
        first = self.venue_symbol(symbols[0])
        mode = self._run(read(self.exchange, self.retry, "fetch_position_mode", self.exchange.fetch_position_mode,
                              first))
        if mode.get("hedged"):
            raise ConfigError(f"the {self.exchange_id} futures account is in hedge mode (dualSidePosition); "
                              "quantd keeps one position per symbol: switch the account to one-way mode")
        # "no need to change margin type" (already isolated, e.g. after a restart) is an answer, not an error
        self.exchange.options.setdefault("setMarginMode", {})["throwMarginModeAlreadySet"] = False
        for symbol in symbols:
            venue = self.venue_symbol(symbol)
            try:
                self._run(read(self.exchange, self.retry, f"set_margin_mode {venue}", self.exchange.set_margin_mode,
                               "isolated", venue))
            except VenueError as exc:
                raise ConfigError(f"{venue}: the exchange refused isolated margin ({exc}); close the "
                                  "position or orders held in another margin mode first") from None
            try:
                self._run(read(self.exchange, self.retry, f"set_leverage {venue}", self.exchange.set_leverage,
                               int(leverage), venue))
            except VenueError as exc:
                raise ConfigError(f"invalid setting futures.leverage: {venue} refused {leverage}x: {exc}") from None
            log.info("futures %s: one-way, isolated margin, %sx set on the exchange", venue, int(leverage))

    def leverage_tiers(self, symbols: list[str]) -> dict[str, LeverageTiers]:
        """The account's current maintenance tiers of ``symbols`` (engine symbols), from the
        exchange (``fetch_leverage_tiers``, Binance ``GET /fapi/v1/leverageBracket``, signed);
        a symbol the exchange gives none for is left out.

        Raises:
            VenueError, VenueUnavailable: the venue refused or did not answer.
            DataError: a tier the venue sent is unusable.
        """
        venue = {self.venue_symbol(s): s for s in symbols}
        rows = self._run(read(self.exchange, self.retry, "fetch_leverage_tiers", self.exchange.fetch_leverage_tiers,
                              list(venue)))
        return {venue[v]: LeverageTiers.from_ccxt(r) for v, r in rows.items() if v in venue and r}

    # ----- orders -----------------------------------------------------------------------------
    def _precise_order_args(self, order: Order) -> tuple:
        if order.type is OrderType.STOP_LIMIT:
            raise _LocalReject("stop orders on the exchange are not supported on a futures account yet")
        return super()._precise_order_args(order)

    def _quote_order_args(self, order: Order, symbol: str, min_cost: Decimal, params: dict) -> tuple:
        """An entry of ``order.quote_qty`` quote: its amount at the last synced candle's close
        (before the first sync after a start: the latest 1m candle's)."""
        ref = self._last_close.get(order.symbol)
        if ref is None:
            try:
                latest = self.fetch_ohlcv(order.symbol, "1m", None, 1)
            except (VenueError, VenueUnavailable) as exc:
                raise _LocalReject(f"no price to turn the entry's notional into an amount: {exc}") from None
            ref = Decimal(repr(latest[-1].close)) if latest else None
        if ref is None or ref <= 0:
            raise _LocalReject("no price to turn the entry's notional into an amount")
        return super()._amount_order_args(order, symbol, (order.quote_qty or Decimal(0)) / ref, None, min_cost, params)

    def _amount_order_args(self, order: Order, symbol: str, qty: Decimal, price: float | None, min_cost: Decimal,
                           params: dict, check_notional: bool = True) -> tuple:
        """An exit: reduce-only, not held to the minimum notional."""
        params["reduceOnly"] = True
        return super()._amount_order_args(order, symbol, qty, price, min_cost, params, check_notional=False)

    def _update(self, order: Order, result: dict, trades: list[dict]) -> OrderUpdate:
        """As spot, but an answer that reports a filled amount without its trades (USD-M's
        order answer) has them fetched; when that fails the order stays working, so the next
        sync fetches them (never a filled order without its fills)."""
        if not trades and dec(result.get("filled")) > order.filled_qty and result.get("id"):
            try:
                trades = self._trades_of(order.symbol, result)
            except Exception as exc:  # noqa: BLE001  (the next sync tries again)
                log.warning("order %s: trades not fetched yet: %s", order.client_order_id, exc)
                update = super()._update(order, result, [])
                update.status = OrderStatus.OPEN if order.filled_qty == 0 else OrderStatus.PARTIALLY_FILLED
                return update
        return super()._update(order, result, trades)

    # ----- account ----------------------------------------------------------------------------
    def fetch_balances(self) -> dict[str, Decimal]:
        """The futures wallet: quote asset -> ``walletBalance`` (without unrealized PnL)."""
        bal = self._run(self._timed(read(self.exchange, self.retry, "fetch_balance", self.exchange.fetch_balance)))
        assets = (bal.get("info") or {}).get("assets") or []
        return {a["asset"]: dec(a.get("walletBalance")) for a in assets if a.get("asset")}

    def fetch_positions(self, symbols: list[str]) -> dict[str, Decimal]:
        """Signed one-way positions of ``symbols`` (engine symbols), base units; 0 when flat."""
        venue = [self.venue_symbol(s) for s in symbols]
        rows = self._run(read(self.exchange, self.retry, "fetch_positions", self.exchange.fetch_positions, venue))
        out = {s: Decimal(0) for s in symbols}
        for row in rows:
            info = row.get("info") or {}
            engine_symbol = symbols[venue.index(row["symbol"])] if row.get("symbol") in venue else None
            if engine_symbol is not None:
                out[engine_symbol] += dec(info.get("positionAmt"))
        return out

    def fetch_funding_payments(self, symbol: str, since_ms: int, until_ms: int) -> list[tuple[int, Decimal]]:
        """The account's funding income on ``symbol`` in ``[since_ms, until_ms)`` (ms UTC):
        ``(time, amount in quote)``, positive when received, oldest first.

        Raises:
            VenueError, VenueUnavailable: the venue refused or did not answer.
        """
        rows = self._run(read(self.exchange, self.retry, f"fetch_funding_history {symbol}",
                              self.exchange.fetch_funding_history, self.venue_symbol(symbol), since_ms, 1000,
                              {"until": until_ms - 1}))
        return sorted((int(r["timestamp"]), dec((r.get("info") or {}).get("income", r.get("amount"))))
                      for r in rows if since_ms <= int(r["timestamp"]) < until_ms)


__all__ = ["CcxtFuturesGateway"]
