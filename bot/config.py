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
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from bot.config_sections import (
    BackupSettings,
    DaemonSettings,
    ExchangeSettings,
    FuturesSettings,
    MonitoringSettings,
    NotifySettings,
    PaperSettings,
    ReplaySettings,
    StoreSettings,
    StrategySettings,
    TelegramSettings,
    VaultSettings,
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


class Settings(BaseSettings):
    """All settings of the daemon; see the module docstring for the sources and their order."""

    model_config = SettingsConfigDict(env_prefix="QUANTD_", env_nested_delimiter="__", extra="forbid",
                                      nested_model_default_partial_update=True)

    mode: Literal["paper", "dry_run", "live"] = Field("paper", description="paper: replayed files, simulated "
                                                      "fills; dry_run: the exchange's live candles (no keys), "
                                                      "simulated fills; live: real orders")
    market: Literal["spot", "futures"] = Field("spot", description="spot (long-only) or futures (USDT-margined "
                                               "perpetuals: shorts, leverage, funding; isolated margin, "
                                               "one-way mode)")
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
        """The funding rates paper charges on ``market``: its ``funding`` file, else the bundled
        sample's (``BASE_QUOTE_QUOTE-8h-funding_rate.csv``); None when there is neither (a
        warning says so).

        Raises:
            ConfigError: an unreadable funding file, naming the setting.
        """
        path = market.funding or sample_path(f"{perpetual_stem(market.symbol)}-8h-funding_rate.csv")
        if not path.is_file() and market.funding is None:
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
        if s.mode in ("dry_run", "live"):
            for m in s.markets():
                if m.funding is not None:
                    raise ConfigError(f"invalid setting {s._field_of(m)}.funding: a {s.mode} run books the funding "
                                      "the exchange publishes or charges; drop the file")
        if s.mode == "live" and s.futures.leverage != s.futures.leverage.to_integral_value():
            raise ConfigError(f"invalid setting futures.leverage: {s.futures.leverage}: live futures leverage is "
                              "a whole number (the exchange takes 1 to 125)")
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
