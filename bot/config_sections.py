"""The sections of quantd's settings (``paper:``, ``futures:``, ``exchange:``, ``telegram:``
...), each a pydantic model that forbids unknown keys; :class:`bot.config.Settings` puts
them together and reads them from the YAML file and the environment."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)


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
