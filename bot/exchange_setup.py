"""The exchange side of the daemon's start-up: connecting the ccxt gateway (with keys from the
vault, or public endpoints only), the live account's first balances and baseline, and a
futures account's terms (leverage, maintenance tiers from the settings or the exchange).
:mod:`bot.app` calls these before it wires the engine.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.logs import redact
from engine.errors import ConfigError, QuantdError
from engine.live import wall_ms
from engine.store import Store
from engine.store.state import add_baseline, set_leverage
from vault import exchange_credentials

if TYPE_CHECKING:  # ccxt (about 70 MB resident) is imported by live mode only
    from gateways.ccxt_gateway import CcxtGateway

log = logging.getLogger("quantd")


def futures_terms(settings: Settings, store: Store, account, markets: list) -> None:
    """Give the stored futures account its maintenance terms from ``settings.futures`` (the
    store keeps the ledger, not the venue's tiers), and its leverage: a changed
    ``futures.leverage`` is taken (and stored) only while every position is flat.

    Raises:
        ConfigError: leverage changed with a position open; a bad tiers file
            (:meth:`~bot.config.Settings.leverage_tiers`).
    """
    f = settings.futures
    if account.leverage != f.leverage:
        held = [sym for sym, pos in account.positions.items() if pos.qty]
        if held:
            raise ConfigError(f"invalid setting futures.leverage: {f.leverage} while the account holds "
                              f"{', '.join(held)} at {account.leverage}x; close the position(s) first")
        set_leverage(store, f.leverage, wall_ms())
        log.info("futures leverage changed from %sx to %sx (no position open)", account.leverage, f.leverage)
        account.leverage = f.leverage
    account.maintenance_rate = f.maintenance_rate
    account.tiers = settings.leverage_tiers()
    for m in markets:
        log.info("futures %s: %sx isolated, maintenance %s", m.symbol, account.leverage,
                 "by the market's tiers" if m.symbol in account.tiers else f"rate {account.maintenance_rate}")


def venue_tiers(exchange, account, markets: list) -> None:
    """Live futures: the exchange's current maintenance tiers replace the bundled or configured
    ones for the markets it gives; unreachable, the configured ones stay (with a warning: they
    only feed the liquidation estimate, its alert and its risk rule)."""
    try:
        tiers = exchange.leverage_tiers([m.symbol for m in markets])
    except QuantdError as exc:
        log.warning("futures tiers not read from the exchange (%s): the configured ones are used", exc)
        return
    account.tiers = {**(account.tiers or {}), **tiers}
    log.info("futures tiers from the exchange: %s", ", ".join(f"{s} ({len(t.tiers)} tiers)" for s, t in tiers.items()))


def connect_exchange(settings: Settings, keys: bool = True) -> CcxtGateway:
    """The ccxt gateway, markets loaded: with keys from the vault (live), or without any
    (dry-run: candles and markets come from public endpoints).

    Raises:
        VaultError: no keys, or a key file others can read (``keys`` only).
        VenueError, VenueUnavailable: the exchange refused or cannot be reached.
    """
    from gateways.ccxt_gateway import CcxtGateway

    ex = settings.exchange
    api_key = secret = ""
    source = "none: public endpoints only"
    if keys:
        creds = exchange_credentials(ex.id, settings.vault.dir, ex.api_key, ex.secret)
        redact(creds.api_key.get_secret_value(), "<api key>")
        redact(creds.secret.get_secret_value(), "<api secret>")
        api_key, secret, source = creds.api_key.get_secret_value(), creds.secret.get_secret_value(), creds.source
    kind = CcxtGateway
    if settings.market == "futures":
        from gateways.ccxt_futures import CcxtFuturesGateway as kind
    gateway = kind(ex.id, api_key=api_key, secret=secret, sandbox=ex.sandbox, api_url=ex.api_url,
                   timeout_ms=ex.timeout_ms, rate_limit_ms=ex.rate_limit_ms, market=settings.market)
    try:
        gateway.load_markets()
    except BaseException:
        gateway.close()
        raise
    log.info("exchange %s%s connected (keys: %s)", ex.id, " testnet" if ex.sandbox else "", source)
    return gateway


def live_account(settings: Settings, gateway: CcxtGateway, instruments: list) -> tuple[Decimal, dict[str, Decimal]]:
    """First live start: the capital the daemon may use and the balances it starts from."""
    balances = gateway.fetch_balances()
    quote = instruments[0].quote
    quote_balance = balances.get(quote, Decimal(0))
    capital = settings.exchange.capital or quote_balance
    if capital > quote_balance:
        raise ConfigError(f"invalid setting exchange.capital (QUANTD_EXCHANGE__CAPITAL): {capital} "
                          f"{quote} is more than the account holds ({quote_balance})")
    if settings.market == "futures":  # the wallet is the baseline; the account starts flat
        held = {s: q for s, q in gateway.fetch_positions([i.symbol for i in instruments]).items() if q}
        if held:
            raise ConfigError(f"the exchange account holds futures position(s) {held}; a new quantd store starts "
                              "flat: close them on the exchange first (or trade other markets)")
        baseline = {quote: quote_balance}
    else:
        baseline = {quote: quote_balance} | {i.base: balances.get(i.base, Decimal(0)) for i in instruments}
    log.info("live account created: capital %s %s; exchange balances at start %s", capital, quote, baseline)
    return capital, baseline


def extend_baseline(store: Store, state, gateway: CcxtGateway, instruments: list) -> None:
    """A market added to the config since the account was created: its base asset's current
    exchange balance joins the baseline (the store has no fill in it, so that is all it holds)."""
    missing = [i.base for i in instruments if i.base not in state.baseline]
    if not missing or state.market == "futures":  # a futures account's baseline is its wallet only
        return
    balances = gateway.fetch_balances()
    added = {asset: balances.get(asset, Decimal(0)) for asset in missing}
    add_baseline(store, added, wall_ms())
    state.baseline.update(added)
    log.info("new market(s): exchange balances %s added to the reconciliation baseline", added)
