"""Reloading the config while the daemon runs (``/reload``, ``SIGHUP``).

The file and the environment are read again and validated as at start. What is safe to
change between two candles is applied by the engine's thread (the reload is an operator
command like ``pause``): the risk limits and protective-exit levels (new entries use them),
the stake of each market, the Telegram roles and chats, the configured alert modes (an
operator's ``/alerts`` choice still wins) and the log level. Anything else (mode, exchange,
markets, strategies and their parameters, store, paper account, replay, vault, backups,
monitoring, notify channels, the engine-side choice of stops on the exchange) needs a
restart: the reload is then refused as a whole, naming the first such field, and nothing
changes. The answer lists what changed, old and new.
"""

from __future__ import annotations

import logging

from bot.config import Settings, load_settings
from bot.config_view import effective_settings
from engine.errors import QuantdError
from engine.risk.sizing import parse_stake

log = logging.getLogger("quantd.reload")

SAFE_PREFIXES = ("risk.", "telegram.admins", "telegram.viewers", "telegram.chats", "telegram.alerts.",
                 "telegram.alerts", "log_level")
"""Settings a reload may change; a market's ``stake`` is safe too (see :func:`_safe`)."""
UNSAFE_RISK = ("risk.stop_on_exchange",)
"""Risk settings that shape the engine's objects: a restart applies them."""


def _safe(key: str) -> bool:
    if key in UNSAFE_RISK:
        return False
    if key.startswith(("strategy.stake",)) or (key.startswith("strategies.") and key.endswith(".stake")):
        return True
    return key.startswith(SAFE_PREFIXES)


def _values(settings: Settings) -> dict[str, str]:
    return {key: value for key, value, _ in effective_settings(settings, environ={})}


class Reloader:
    """Applies a new config to a running engine and its bot.

    Args:
        settings: the settings the daemon runs with (replaced on each successful reload).
        engine: the :class:`engine.live.LiveEngine`.
        telegram: the :class:`bot.telegram.daemon.DaemonTelegram` (roles, alert modes).
    """

    def __init__(self, settings: Settings, engine, telegram=None):
        self.settings, self.engine, self.telegram = settings, engine, telegram

    def __call__(self, by: str) -> str:
        """Reload now (engine thread); returns what happened, in words. Never raises."""
        origin = self.settings._origin
        try:
            new = load_settings(origin.get("config_file"), **origin.get("overrides", {}))
        except QuantdError as exc:
            return f"reload refused, nothing changed: {exc}"
        old_values, new_values = _values(self.settings), _values(new)
        changed = [k for k in new_values.keys() | old_values.keys() if old_values.get(k) != new_values.get(k)]
        unsafe = sorted(k for k in changed if not _safe(k))
        if unsafe:
            return (f"reload refused, nothing changed: {unsafe[0]} cannot change while the daemon runs "
                    f"({old_values.get(unsafe[0])} -> {new_values.get(unsafe[0])}); restart to apply it")
        if not changed:
            return "reloaded: nothing changed"
        cold = self._apply(new)
        lines = [f"{k}: {old_values.get(k)} -> {new_values.get(k)}" for k in sorted(changed)]
        if cold:
            lines.append(f"ATR(14) starts now for {', '.join(cold)}: ATR-based levels and stakes wait 14 candles")
        log.warning("config reloaded by %s: %s", by, "; ".join(lines))
        return "reloaded: " + "; ".join(lines)

    def _apply(self, new: Settings) -> list[str]:
        """Apply ``new``; returns the symbols whose runner starts keeping ATR(14) now."""
        engine = self.engine
        risk = engine.risk
        tf_ms = min(lane.runner.tf_ms for lane in engine.lanes)
        risk.rules = new.risk.build(tf_ms)
        risk.policy = new.risk.protection()
        risk.flatten_on_halt = new.risk.flatten_on_halt
        risk.day_offset_ms = new.risk.day_start_hour_utc * 3_600_000
        cold = []
        for lane, market in zip(engine.lanes, new.markets()):
            lane.runner.sizer = parse_stake(market.stake, new.paper.fee)
            if lane.runner.settings_changed():
                cold.append(lane.runner.symbol)
        if new.log_level != self.settings.log_level:
            logging.getLogger().setLevel(new.log_level)
        if self.telegram is not None:
            self.telegram.reconfigure(new)
        self.settings = new
        return cold
