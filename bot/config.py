"""Settings: defaults that run offline, then a YAML file, then ``QUANTD_`` env vars, then CLI flags.

Environment variables use the ``QUANTD_`` prefix and ``__`` for nesting, e.g.
``QUANTD_REPLAY__SPEED=50`` or ``QUANTD_STRATEGY__PARAMS='{"fast": 5, "slow": 20}'``.
The same keys nest in YAML (``replay: {speed: 50}``). Any invalid value stops the program
before anything starts, with a :class:`ConfigError` that names the field.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from engine.errors import ConfigError, DataError, QuantdError
from engine.futures import FundingRates, LeverageTiers, perpetual_stem
from engine.models import Instrument
from engine.risk.limits import RiskLimits
from engine.risk.sizing import parse_stake
from engine.strategy import create, load_module
from engine.timeframes import timeframe_to_ms
from engine.validation import did_you_mean, explain
from gateways import sample_path

_YAML_FILE: ContextVar[Path | None] = ContextVar("quantd_yaml_file", default=None)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StrategySettings(_Section):
    """One strategy on one market. ``strategy`` is accepted for ``name`` (the issue's and
    freqtrade's spelling in a ``strategies`` list)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field("sma_cross", validation_alias=AliasChoices("name", "strategy"))
    module: str | None = Field(None, description="your strategies' module, imported before name is looked up: a "
                                                 "dotted module on PYTHONPATH or a .py file (its @register names)")
    symbol: str = "BTC/USDT"
    timeframe: str = "5m"
    params: dict[str, Any] = Field(default_factory=dict, description="strategy parameters; default: the strategy's own")
    stake: str = Field("all", description="'all' or quote amount per entry")
    funding: Path | None = Field(None, description="paper, market futures: funding rates CSV "
                                 "(timestamp,funding_rate) charged at each funding time; default: the bundled "
                                 "sample's when there is one, else none (a warning says so)")
    data: Path | None = Field(None, description="paper: OHLCV file replayed for this market; default: "
                                                "replay.data, else the bundled sample of the symbol and timeframe")
    amount_step: Decimal | None = Field(None, gt=0, description="paper: quantity increment; default paper.amount_step")
    price_step: Decimal | None = Field(None, gt=0, description="paper: price tick; default paper.price_step")
    min_notional: Decimal | None = Field(None, ge=0, description="paper: smallest order; default paper.min_notional")


class PaperSettings(_Section):
    """Paper account and simulated fills. Steps and minimum notional default to Binance BTC/USDT's."""

    cash: Decimal = Field(Decimal(10_000), gt=0, description="starting cash, quote currency")
    fee: Decimal = Field(Decimal("0.001"), ge=0, lt=1, description="fee per fill, fraction of notional")
    slippage_bps: Decimal = Field(Decimal(5), ge=0, le=1000, description="basis points per fill")
    amount_step: Decimal = Field(Decimal("0.00001"), gt=0, description="quantity increment, base currency")
    price_step: Decimal = Field(Decimal("0.01"), gt=0, description="price tick, quote currency")
    min_notional: Decimal = Field(Decimal(5), ge=0, description="smallest order, quote currency")


class FuturesSettings(_Section):
    """``market: futures``: a USDT-margined perpetual account (ADR 0017): shorts, leverage,
    isolated margin, funding and liquidation. Paper and dry-run only for now."""

    leverage: Decimal = Field(Decimal(1), ge=1, le=125, description="position notional per unit of margin; "
                              "a stake is margin, the position is leverage times it")
    maintenance_rate: Decimal = Field(Decimal("0.004"), gt=0, lt=1, description="maintenance margin rate "
                                      "for the liquidation price when no tiers file is given (Binance's first tier)")
    tiers: Path | None = Field(None, description="JSON of ccxt fetch_leverage_tiers(): the market's maintenance "
                               "tiers (liquidation price and the largest position the leverage allows), with "
                               "every market; default: the bundled Binance tiers of the markets they have "
                               "(BTC/USDT, XRP/USDT), else one tier at maintenance_rate")
    liquidation_alert_pct: Decimal | None = Field(Decimal(5), gt=0, le=100, description="alert when the close is "
                                                  "within this percent of a position's liquidation price; "
                                                  "null: never")


class ReplaySettings(_Section):
    """Recorded candles replayed as if live: the offline market data source."""

    data: Path | None = Field(None, description="OHLCV file; default: the bundled real BTC/USDT 5m sample")
    speed: float = Field(10.0, gt=0, le=100_000, description="candles released per second")
    exit_when_done: bool = Field(False, description="stop the daemon when the file is exhausted")


class ExchangeSettings(_Section):
    """The exchange of live mode (ccxt). Credentials come from the vault, or from
    ``QUANTD_EXCHANGE__API_KEY`` / ``QUANTD_EXCHANGE__SECRET``; they are never logged."""

    id: str = Field("binance", description="ccxt exchange id")
    sandbox: bool = Field(False, description="trade on the exchange's testnet (ccxt set_sandbox_mode)")
    api_url: str | None = Field(None, description="replace the exchange's REST host (tests, private mirrors)")
    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    timeout_ms: int = Field(10_000, ge=100, le=120_000, description="HTTP timeout per request")
    rate_limit_ms: int | None = Field(None, ge=1, le=60_000, description="ccxt rateLimit, ms per request of weight "
                                                                        "1; default: the exchange's own")
    poll_secs: float = Field(2.0, gt=0, le=3600, description="how often candles and working orders are polled")
    reconcile_secs: float = Field(60.0, gt=0, description="seconds between reconciliations (also run at start-up)")
    balance_tolerance_pct: Decimal = Field(Decimal("0.5"), ge=0, le=100,
                                           description="balance drift allowed before the breaker halts, percent")
    stale_after_candles: float = Field(2.0, gt=0, description="no new closed candle for this many timeframes: stale")
    unreachable_after_secs: float = Field(60.0, gt=0, description="exchange unreachable this long: stale")
    adopt_external_orders: bool = Field(False, description="take over open orders placed outside quantd on a "
                                                          "traded symbol (default: report them, never touch)")
    capital: Decimal | None = Field(None, gt=0, description="quote the daemon may trade with; default: the whole "
                                                            "quote balance at the first start")


class VaultSettings(_Section):
    """Where secret files live (``<dir>/<exchange id>.json``, mode 600)."""

    dir: Path = Path("vault")


ALERT_TYPES = ("fill", "rejection", "stale_data", "stale_data_recovered", "breaker_tripped", "reconciliation_drift",
               "external_order", "startup", "shutdown", "crash_restart", "daily_summary", "error", "backfill",
               "liquidation_warning", "funding")
"""Alert types the operator can set to on (notify), silent (delivered without sound) or off."""

ALERT_DEFAULTS = {t: "silent" if t == "funding" else "on" for t in ALERT_TYPES}
"""Each alert type's mode unless configured: all on, but funding (every 8 hours per position) silent."""

AlertMode = Literal["on", "silent", "off"]


class TelegramSettings(_Section):
    """The Telegram bot (optional: without a token, alerts are only logged)."""

    token: SecretStr | None = Field(None, description="bot token from BotFather; or vault/telegram.json")
    admins: list[int] = Field(default_factory=list, description="user ids allowed every command")
    viewers: list[int] = Field(default_factory=list, description="user ids allowed read-only commands")
    chats: list[int] = Field(default_factory=list, description="group chat ids where the bot answers (members "
                             "still need a role); also receive alerts")
    alert_thread_id: int | None = Field(None, description="forum topic of the group chats for alerts")
    api_base_url: str = Field("https://api.telegram.org/bot", description="Bot API base URL (python-telegram-bot "
                              "base_url); tests point it at a local server")
    webhook_url: str | None = Field(None, description="public HTTPS URL Telegram posts updates to (webhook mode; "
                                    "default: long polling)")
    webhook_listen: str = Field("127.0.0.1", description="address the webhook server binds (behind a TLS proxy)")
    webhook_port: int = Field(8443, ge=1, le=65535, description="port the webhook server binds")
    webhook_secret: SecretStr | None = Field(None, description="secret Telegram sends in "
                                             "X-Telegram-Bot-Api-Secret-Token; requests without it are refused")
    alerts: dict[str, AlertMode] = Field(default_factory=dict, description="alert type -> on|silent|off; default on (funding: silent)")
    dedupe_secs: float = Field(600.0, ge=0, description="identical alerts within this window are sent once, "
                               "with a count")
    daily_summary_hour_utc: int = Field(0, ge=0, le=23, description="hour (UTC) of the daily summary alert")
    confirm_secs: float = Field(60.0, gt=0, le=3600, description="how long a confirmation button stays valid")
    approve_entries: bool = Field(False, description="every strategy entry waits for an admin's Approve; no answer "
                                  "within approve_secs skips it (exits are never held)")
    approve_secs: float = Field(60.0, gt=0, le=3600, description="how long an entry waits for approval (engine "
                                "clock: live and dry-run; a fast replay expires it at the next candle)")
    max_per_chat_per_sec: float = Field(1.0, gt=0, description="Telegram's limit: messages per second per chat")
    max_per_sec: float = Field(30.0, gt=0, description="Telegram's limit: messages per second overall")

    @field_validator("webhook_url")
    @classmethod
    def _https_webhook(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith("https://"):
            raise ValueError("Telegram only posts to https:// URLs; terminate TLS in a proxy in front of quantd")
        return url

    @field_validator("alerts")
    @classmethod
    def _known_alert_types(cls, alerts: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(alerts) - set(ALERT_TYPES))
        if unknown:
            raise ValueError(f"unknown alert type(s) {unknown}; known: {', '.join(ALERT_TYPES)}")
        return alerts


class DaemonSettings(_Section):
    """How the daemon behaves under a supervisor (systemd, Docker)."""

    stall_secs: float = Field(120.0, gt=0, le=3600, description="the engine loop is stalled (watchdog pings stop, "
                              "quantd health fails) when it made no progress for this long")
    cancel_orders_on_stop: bool = Field(False, description="cancel working orders on a clean stop (SIGTERM/SIGINT); "
                                        "default: leave them working, reconciliation picks them up at the next start")
    health_max_age_secs: float = Field(60.0, gt=0, description="quantd health fails when the heartbeat row is older")


class MonitoringSettings(_Section):
    """Monitoring from outside the machine: a dead-man's switch (see :mod:`bot.deadman`)."""

    heartbeat_url: SecretStr | None = Field(None, description="push URL of Healthchecks.io, Uptime Kuma or Better "
                                            "Stack, requested while the engine loop makes progress; a secret")
    heartbeat_secs: float = Field(60.0, gt=0, le=86_400, description="seconds between heartbeat requests")
    heartbeat_timeout_secs: float = Field(10.0, gt=0, le=120, description="timeout of one heartbeat request")
    metrics_port: int | None = Field(None, ge=0, le=65535, description="serve Prometheus metrics on this port "
                                     "(bot/metrics.py); default: off")
    metrics_host: str = Field("127.0.0.1", description="address the metrics endpoint binds")

    @field_validator("heartbeat_url")
    @classmethod
    def _http_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("a heartbeat URL starts with https:// (or http://)")
        return url


class ChannelSettings(_Section):
    """One apprise URL alerts also go to (see :mod:`bot.notify`)."""

    url: SecretStr = Field(description="an apprise URL: discord://, slack://, ntfy://, mailto://, pover://, "
                           "json://host/path ...; a secret (it carries tokens)")
    types: list[str] = Field(default_factory=list, description="alert types sent to it; empty: all")
    name: str | None = Field(None, max_length=40, description="a label for logs and /health")

    @field_validator("types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        unknown = sorted(set(types) - set(ALERT_TYPES))
        if unknown:
            raise ValueError(f"unknown alert type(s) {unknown}; known: {', '.join(ALERT_TYPES)}")
        return types

    @field_validator("url")
    @classmethod
    def _apprise_url(cls, url: SecretStr) -> SecretStr:
        import apprise

        if apprise.Apprise.instantiate(url.get_secret_value()) is None:
            raise ValueError("apprise does not know this URL (see https://github.com/caronc/apprise/wiki "
                             "for the URL of each service)")
        return url


class NotifySettings(_Section):
    """Alert channels besides Telegram, through apprise, fed by the same outbox."""

    channels: list[ChannelSettings] = Field(default_factory=list, description="apprise URLs alerts also go to")
    dedupe_secs: float = Field(600.0, ge=0, description="identical alerts within this window: sent once, with a count")
    max_backoff_secs: float = Field(300.0, gt=0, le=3600, description="longest wait between retries of a channel")


class BackupSettings(_Section):
    """Online backups of a SQLite store while the daemon runs (PostgreSQL: use pg_dump)."""

    dir: Path | None = Field(None, description="where copies go; default: backups/ beside the store file")
    every_hours: float = Field(6.0, ge=0, le=24 * 30, description="hours between backups; 0 turns them off")
    keep: int = Field(14, ge=1, le=10_000, description="newest copies kept; older ones are deleted")


class StoreSettings(_Section):
    """Where state lives (SQLAlchemy URL)."""

    url: str = "sqlite:///var/quantd.sqlite"


class Settings(BaseSettings):
    """All settings of the daemon; see the module docstring for the sources and their order."""

    model_config = SettingsConfigDict(env_prefix="QUANTD_", env_nested_delimiter="__", extra="forbid",
                                      nested_model_default_partial_update=True)

    mode: Literal["paper", "dry_run", "live"] = Field("paper", description="paper: replayed files, simulated "
                                                      "fills; dry_run: the exchange's live candles (no keys), "
                                                      "simulated fills; live: real orders")
    market: Literal["spot", "futures"] = Field("spot", description="spot (long-only) or futures (USDT-margined "
                                               "perpetuals: shorts, leverage, funding; paper and dry_run "
                                               "only for now)")
    futures: FuturesSettings = Field(default_factory=FuturesSettings)
    strategy: StrategySettings = Field(default_factory=StrategySettings)
    strategies: list[StrategySettings] | None = Field(
        None, description="several markets in one daemon (one account, one risk manager); replaces strategy")
    paper: PaperSettings = Field(default_factory=PaperSettings)
    replay: ReplaySettings = Field(default_factory=ReplaySettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    exchange: ExchangeSettings = Field(default_factory=ExchangeSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "text", "json"] = Field("auto", description="auto: JSON lines under systemd "
                                                       "(JOURNAL_STREAM set), readable text otherwise")
    log_file: Path | None = Field(None, description="also write JSON lines to this file, rotated at 20 MB, 5 kept")
    _origin: dict = PrivateAttr(default_factory=dict)
    """How these settings were loaded: ``config_file`` and the CLI ``overrides`` (for /config)."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = _YAML_FILE.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    def backup_dir(self) -> Path | None:
        """Where backups of the store go: ``backup.dir``, else ``backups/`` beside a SQLite
        store file; None for other databases."""
        from sqlalchemy.engine import make_url

        url = make_url(self.store.url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return self.backup.dir or Path(url.database).parent / "backups"

    def markets(self) -> list[StrategySettings]:
        """What the daemon trades: ``strategies`` when given, else the single ``strategy``."""
        return list(self.strategies) if self.strategies else [self.strategy]

    def instrument(self, market: StrategySettings | None = None) -> Instrument:
        """Paper trading rules of ``market`` (default: the first): its own steps, else ``paper``'s."""
        m = market or self.markets()[0]
        p = self.paper
        return Instrument(m.symbol, m.amount_step or p.amount_step, m.price_step or p.price_step,
                          p.min_notional if m.min_notional is None else m.min_notional)

    def replay_file(self, market: StrategySettings) -> Path:
        """The OHLCV file a paper daemon replays for ``market``.

        Raises:
            ConfigError: no file set and no bundled sample for its symbol and timeframe.
        """
        if market.data is not None:
            return market.data
        if self.replay.data is not None and len(self.markets()) == 1:
            return self.replay.data
        name = f"{market.symbol.replace('/', '_')}-{market.timeframe}.csv.gz"
        if self.market == "futures":  # freqtrade's name of a linear perpetual's candles
            name = f"{perpetual_stem(market.symbol)}-{market.timeframe}-futures.csv.gz"
        path = sample_path(name)
        if not path.is_file():
            raise ConfigError(f"invalid setting {self._field_of(market)}.data: no bundled sample {name}; "
                              "set the OHLCV file to replay for this market")
        return path

    def funding_file(self, market: StrategySettings) -> Path | None:
        """The funding rates a paper futures daemon charges on ``market``: its ``funding``, else
        the bundled sample's (``BASE_QUOTE_QUOTE-8h-funding_rate.csv``), else None."""
        if market.funding is not None:
            return market.funding
        path = sample_path(f"{perpetual_stem(market.symbol)}-8h-funding_rate.csv")
        return path if path.is_file() else None

    def leverage_tiers(self) -> dict[str, LeverageTiers]:
        """The maintenance tiers of a futures config's markets, symbol -> tiers: from
        ``futures.tiers`` (it must have every market), else the bundled Binance tiers of the
        markets it has. A market without tiers uses ``futures.maintenance_rate``.

        Raises:
            ConfigError: an unreadable tiers file, or one without a market.
        """
        if self.futures.tiers is not None:
            try:
                return {m.symbol: LeverageTiers.read_json(self.futures.tiers, m.symbol) for m in self.markets()}
            except DataError as exc:
                raise ConfigError(f"invalid setting futures.tiers: {exc}") from None
        found = {}
        for m in self.markets():
            try:
                found[m.symbol] = LeverageTiers.read_json(sample_path("binance_leverage_tiers.json"), m.symbol)
            except DataError:
                pass
        return found

    def funding_rates(self, market: StrategySettings) -> FundingRates | None:
        """The funding rates paper charges on ``market`` (:meth:`funding_file`), None when there
        are none (a warning says so).

        Raises:
            ConfigError: an unreadable funding file, naming the setting.
        """
        path = self.funding_file(market)
        if path is None:
            logging.getLogger("quantd").warning("no funding rates for %s (set its funding: file): paper charges "
                                                "no funding", market.symbol)
            return None
        try:
            rates = FundingRates.read_csv(path)
        except DataError as exc:
            raise ConfigError(f"invalid setting {self._field_of(market)}.funding: {exc}") from None
        logging.getLogger("quantd").info("funding %s: %d rates from %s", market.symbol, len(rates.times), path)
        return rates

    def _field_of(self, market: StrategySettings) -> str:
        for i, m in enumerate(self.strategies or []):
            if m is market:
                return f"strategies.{i}"
        return "strategy"


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build and fully validate the settings (including strategy parameters and stake).

    Args:
        config_file: optional YAML file.
        overrides: values from CLI flags, nested as dicts (``replay={"speed": 5}``).

    Raises:
        ConfigError: naming the field, its env variable and the problem.
    """
    path = Path(config_file) if config_file else None
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(yaml_problem(path, exc)) from None
    token = _YAML_FILE.set(path)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    finally:
        _YAML_FILE.reset(token)
    _check_semantics(settings)
    _warn_unknown_env(os.environ)
    settings._origin = {"config_file": path, "overrides": overrides}
    return settings


NOT_SETTINGS = frozenset({"QUANTD_PROGRESS", "QUANTD_TEST_DATA", "QUANTD_TEST_PG_URL", "QUANTD_BENCH_SERIES"})
"""``QUANTD_`` variables that are not settings (progress bars, tests, bench)."""


def unknown_env(environ) -> list[str]:
    """One sentence per ``QUANTD_`` variable that names no setting (a nested key's typo is an
    error already; a top-level one would be ignored silently): ``QUANTD_MODEE is not a
    setting (did you mean QUANTD_MODE?)``."""
    known = {f"QUANTD_{name.upper()}" for name in Settings.model_fields}
    out = []
    for key in sorted(environ):
        upper = key.upper()
        if not upper.startswith("QUANTD_") or upper in NOT_SETTINGS:
            continue
        top = upper.split("__")[0]
        if top not in known:
            out.append(f"environment variable {key} is not a setting{did_you_mean(top, sorted(known))}; "
                       "it is ignored")
    return out


def _warn_unknown_env(environ) -> None:
    for line in unknown_env(environ):
        logging.getLogger("quantd.config").warning("%s", line)


def yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """``config file F is not valid YAML: line 4, column 3: mapping values are not allowed here``
    (line and column from 1, where the parser stopped)."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return f"config file {path} is not valid YAML: {where}{problem}" + (f" ({context})" if context else "")


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(x) if str(x).isprintable() else repr(str(x)) for x in err["loc"]]  # a key "\n" stays one line
    field = ".".join(loc) or "settings"
    env = "QUANTD_" + "__".join(x.upper() for x in loc)
    got = f", got {err['input']!r}" if "input" in err and not isinstance(err["input"], dict) \
        and err["type"] != "extra_forbidden" else ""
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"invalid setting {field} ({env}): {explain(Settings, err)}{got}{more}"


def _check_semantics(s: Settings) -> None:
    """Checks pydantic cannot express: each strategy, its parameters, timeframe and stake; one
    market per symbol (a position belongs to one strategy); one quote currency (one cash account)."""
    if s.strategies is not None and "strategy" in s.model_fields_set:
        raise ConfigError("invalid settings: set strategy (one market) or strategies (a list), not both")
    if s.strategies is not None and not s.strategies:
        raise ConfigError("invalid setting strategies (QUANTD_STRATEGIES): the list is empty")
    seen: dict[str, str] = {}
    for m in s.markets():
        field = s._field_of(m)
        if m.module:
            try:
                load_module(m.module)
            except QuantdError as exc:
                raise ConfigError(f"invalid setting {field}.module: {exc}") from None
        try:
            create(m.name, m.params)
            timeframe_to_ms(m.timeframe)
            parse_stake(m.stake, s.paper.fee)
        except QuantdError as exc:
            raise ConfigError(f"invalid setting {field}: {exc}") from None
        if "/" not in m.symbol:
            raise ConfigError(f"invalid setting {field}.symbol: {m.symbol!r} is not BASE/QUOTE")
        if m.symbol in seen:
            raise ConfigError(f"invalid setting {field}.symbol: {m.symbol} is already traded by {seen[m.symbol]}; "
                              "one strategy per symbol, because a position belongs to one strategy")
        seen[m.symbol] = field
    if s.market == "futures":
        if s.mode == "live":
            raise ConfigError("invalid setting market (QUANTD_MARKET): futures runs in paper and dry_run modes only "
                              "for now; live futures orders need a futures venue, which quantd does not have yet")
        if s.mode == "dry_run":
            for m in s.markets():
                if m.funding is not None:
                    raise ConfigError(f"invalid setting {s._field_of(m)}.funding: a dry run charges the funding "
                                      "rates the exchange publishes; drop the file")
        if s.risk.stop_on_exchange:
            raise ConfigError("invalid setting risk.stop_on_exchange: the exchange stop is a spot sell; "
                              "on market futures the engine checks stops on each candle")
    else:
        for m in s.markets():
            if m.funding is not None:
                raise ConfigError(f"invalid setting {s._field_of(m)}.funding: funding rates apply to market futures")
    quotes = {m.symbol.split("/")[1] for m in s.markets()}
    if len(quotes) > 1:
        raise ConfigError(f"invalid setting strategies: symbols quoted in {sorted(quotes)}; "
                          "one quote currency per daemon (its cash account)")
