"""The chaos campaign: ``quantd run --mode live`` as a subprocess against the fake Binance
with random faults, killed or stopped at seeded random points, restarted, and checked.

Each round:
1. **chaos**: faults on at ``fault_rate`` (timeouts before and after acting, dropped
   connections, 429/418 with Retry-After, 503, -1007, -1021, maintenance answers and
   maintenance windows of seconds, SIGKILL around an order, duplicated fill reports, market
   orders filled in several trades or only minutes later); the daemon trades two markets for
   a random while, then is SIGKILLed (``kill_prob``) or SIGTERMed;
2. **settle**: faults off, the daemon starts again (recovery and reconciliation run before
   READY) and is stopped with SIGTERM, which must exit 0;
3. **check**: every invariant of :mod:`tests.chaos.invariants`, including the alerts the fake
   Telegram received. Telegram goes down or rate-limits at random moments of the chaos runs;
   the settle run waits until every queued alert is delivered before it stops.

Time runs ``speed`` times faster on the venue: a round of seconds is hours of real 1m candles
(BTC/USDT and ETH/USDT, April-May 2021, with the real outage of 2021-04-25). Everything random
comes from ``seed``, so a failure replays with the same seed (thread timing aside).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pandas as pd
import yaml

from tests.chaos.invariants import Violation, check, check_alerts
from tests.cli_helpers import clean_env, quantd_cmd
from tests.db_helpers import rows
from tests.fakes.binance import ChaosPlan, FakeBinance
from tests.fakes.binance_futures import FakeBinanceFutures
from tests.fakes.telegram import FakeTelegram
from tests.telegram_helpers import ADMIN, TOKEN

MINUTE = 60_000
ORDER_FAULTS = ("timeout_before", "timeout_after", "drop_before", "drop_after", "http_429", "http_418", "http_503",
                "unknown_1007", "timestamp_1021", "maintenance", "kill_before", "kill_after")
READ_FAULTS = ("timeout_before", "drop_before", "http_429", "http_418", "http_503", "maintenance", "timestamp_1021")
MAX_ORDER_NOTIONAL = Decimal(250)


@dataclass
class CampaignConfig:
    """Knobs of one campaign; defaults are the short run of the default test suite."""

    seed: int = 7
    rounds: int = 4
    round_secs: tuple[float, float] = (5.0, 9.0)
    """wall seconds a round trades before its stop or kill (long enough to trade with stops resting)."""
    speed: float = 1200.0
    """venue ms per wall ms: 1200 makes a wall second 20 minutes of candles."""
    fault_rate: float = 0.06
    kill_prob: float = 0.5
    telegram_outage_prob: float = 0.08
    """chance, every half second of a chaos run, that Telegram goes down for 1-4 s or answers
    the next 1-3 sends with 429 ``retry_after``."""
    start_row: int = 300
    deadline_s: float | None = None
    """monotonic time after which no new round starts (soak runs are bounded by time)."""
    scripted_faults: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(endpoint, faults) queued on the venue before the first round: the next calls of that
    endpoint get them, one per call, whatever the random draws (which follow thread timing)."""
    market: str = "spot"
    """``futures``: a USD-M account at 2x (the fake's ``FakeBinanceFutures``), both strategies
    long and short, stops checked by the engine (exchange stops are spot only)."""


@dataclass
class CampaignResult:
    """What a campaign did and found."""

    rounds: int = 0
    kills: int = 0
    clean_stops: int = 0
    crashes: int = 0
    simulated_days: float = 0.0
    orders: int = 0
    fills: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    telegram_outages: int = 0
    alerts_delivered: int = 0
    alert_duplicates: int = 0
    violations: list[tuple[int, Violation]] = field(default_factory=list)
    rounds_resources: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    """Per chaos run: (seconds, first RSS kB, last RSS kB, first open fds, last open fds)."""
    venue: FakeBinance | None = None
    """The venue's final state (its server stopped), for checks after the campaign."""
    store_url: str = ""

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        return (f"{self.rounds} rounds, {self.simulated_days:.1f} simulated days, {self.orders} orders, "
                f"{self.fills} fills, {self.kills} SIGKILLs, {self.clean_stops} clean stops, {self.crashes} crashes; "
                f"faults: {faults or 'none'}; {self.telegram_outages} Telegram outages, {self.alerts_delivered} "
                f"alerts delivered ({self.alert_duplicates} repeated after a kill); "
                f"invariant violations: {len(self.violations)}")


def _frame(data_dir: Path, name: str) -> pd.DataFrame:
    df = pd.read_csv(data_dir / f"binance/{name}-1m.csv.gz")
    df.columns = ["timestamp", "open", "high", "low", "close", "volume"]
    return df


def _config(workdir: Path, venue_url: str, telegram_url: str, market: str = "spot") -> Path:
    futures = market == "futures"
    cfg = {
        "mode": "live",
        "market": market,
        "exchange": {"api_url": venue_url, "api_key": "chaos-key", "secret": "chaos-secret", "poll_secs": 0.2,
                     "timeout_ms": 1000, "reconcile_secs": 2, "unreachable_after_secs": 5},
        "strategies": [
            {"name": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1m",
             "params": {"fast": 3, "slow": 8, **({"allow_short": True} if futures else {})},
             "stake": "100" if futures else "200"},  # futures: 100 of margin is a 200 position at 2x
            {"name": "sma_cross", "symbol": "ETH/USDT", "timeframe": "1m",
             "params": {"fast": 2, "slow": 5, "allow_short": True}, "stake": "100"} if futures else
            {"name": "rsi_reversion", "symbol": "ETH/USDT", "timeframe": "1m",
             "params": {"period": 6, "lower": 35, "upper": 65}, "stake": "200"},
        ],
        "risk": {"max_order_notional": str(MAX_ORDER_NOTIONAL), "max_open_positions": 2,
                 "stop_loss_pct": 0.4, "stop_on_exchange": not futures},  # spot: stops rest on the venue
        "store": {"url": f"sqlite:///{workdir / 'chaos.sqlite'}"},
        "vault": {"dir": str(workdir / "vault")},
        "backup": {"every_hours": 0},
        "telegram": {"token": TOKEN, "admins": [ADMIN], "api_base_url": telegram_url, "dedupe_secs": 0,
                     "max_per_chat_per_sec": 100, "max_per_sec": 100},
    }
    if futures:
        cfg["futures"] = {"leverage": 2}
    path = workdir / "chaos.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _wait_outbox_empty(db: Path, proc: subprocess.Popen, timeout: float) -> None:
    """Wait while the running daemon delivers what Telegram missed during its outages."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if rows(db, "SELECT count(*) FROM outbox WHERE sent_ms IS NULL")[0][0] == 0:
            return
        time.sleep(0.2)


def _proc_stats(pid: int) -> tuple[int, int] | None:
    try:
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
        return rss, len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except (OSError, StopIteration):
        return None


class _Daemon:
    def __init__(self, config: Path, workdir: Path, log_name: str):
        self.log = (workdir / log_name).open("w")
        self.proc = subprocess.Popen(quantd_cmd() + ["run", "--config", str(config)], cwd=workdir, env=clean_env(),
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)
        self.path = workdir / log_name

    def wait_ready(self, timeout: float = 60) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            if "quantd.supervisor: ready:" in self.path.read_text():
                return True
            time.sleep(0.1)
        return False

    def stop(self, sig: int, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.log.close()


RESOURCE_MIN_SECS = 30.0
"""Runs shorter than this are not judged for resource growth (start-up dominates)."""


def _resources(secs: float, rss0: int, rss1: int, fds0: int, fds1: int) -> list[Violation]:
    """``resources_flat``: over a long run, RSS may not grow by half and open fds by more than 10."""
    if secs < RESOURCE_MIN_SECS:
        return []
    out = []
    if rss1 > rss0 * 1.5:
        out.append(Violation("resources_flat", f"RSS grew from {rss0} to {rss1} kB in {secs:.0f} s"))
    if fds1 > fds0 + 10:
        out.append(Violation("resources_flat", f"open fds grew from {fds0} to {fds1} in {secs:.0f} s"))
    return out


def run_campaign(cfg: CampaignConfig, data_dir: Path, workdir: Path) -> CampaignResult:
    """Run the campaign of the module docstring in ``workdir``; returns its result (the caller
    asserts on ``violations``)."""
    rng = random.Random(cfg.seed)
    btc, eth = _frame(data_dir, "BTC_USDT"), _frame(data_dir, "ETH_USDT")
    start_ms = int(btc.timestamp[cfg.start_row]) + 1000
    if cfg.market == "futures":
        venue = FakeBinanceFutures(data_dir / "fixtures", {"BTCUSDT": btc, "ETHUSDT": eth}, MINUTE, start_ms,
                                   wallet="10000", speed=cfg.speed)
    else:
        venue = FakeBinance(data_dir / "fixtures", {"BTCUSDT": btc, "ETHUSDT": eth}, MINUTE, start_ms,
                            {"USDT": "10000"}, speed=cfg.speed)
    venue.fault_sleep_secs = 1.3
    for endpoint, faults in cfg.scripted_faults:
        venue.inject(endpoint, *faults)
    url = venue.start()
    telegram = FakeTelegram(data_dir / "fixtures", TOKEN)
    config = _config(workdir, url, telegram.start(), cfg.market)
    result = CampaignResult()
    plan = ChaosPlan(cfg.seed, cfg.fault_rate, {"POST": ORDER_FAULTS, "DELETE": ORDER_FAULTS, "GET": READ_FAULTS},
                     split_prob=0.2, delay_prob=0.15, window_prob=cfg.fault_rate / 40)
    try:
        for n in range(1, cfg.rounds + 1):
            if cfg.deadline_s is not None and time.monotonic() > cfg.deadline_s:
                break
            result.rounds = n
            venue.chaos, venue.duplicate_fill_reports = plan, True
            daemon = _Daemon(config, workdir, f"round{n}-chaos.log")
            venue.kill_pid = daemon.proc.pid
            daemon.wait_ready()
            began = time.monotonic()
            end = began + rng.uniform(*cfg.round_secs)
            samples, back_at = [], 0.0
            while time.monotonic() < end and daemon.proc.poll() is None:
                stats = _proc_stats(daemon.proc.pid)
                if stats:
                    samples.append(stats)
                if telegram.down and time.monotonic() >= back_at:
                    telegram.down = False
                elif not telegram.down and rng.random() < cfg.telegram_outage_prob:
                    if rng.random() < 0.5:
                        telegram.down, back_at = True, time.monotonic() + rng.uniform(1.0, 4.0)
                    else:  # flood control instead: the next sends answer 429 with retry_after
                        telegram.retry_after.extend([1] * rng.randint(1, 3))
                    result.telegram_outages += 1
                time.sleep(0.5)
            telegram.down = False
            if len(samples) >= 2:
                result.rounds_resources.append((time.monotonic() - began, samples[1][0], samples[-1][0],
                                                samples[1][1], samples[-1][1]))
                result.violations.extend((n, v) for v in _resources(*result.rounds_resources[-1]))
            kill = rng.random() < cfg.kill_prob
            code = daemon.stop(signal.SIGKILL if kill else signal.SIGTERM)
            if code == -signal.SIGKILL:
                result.kills += 1
            elif code == 0:
                result.clean_stops += 1
            else:
                result.crashes += 1
                result.violations.append((n, Violation("clean_stop", f"chaos run exited {code}; see "
                                                                     f"{daemon.path.name}")))

            venue.chaos, venue.duplicate_fill_reports = None, False
            settle = _Daemon(config, workdir, f"round{n}-settle.log")
            venue.kill_pid = None
            ready = settle.wait_ready()
            time.sleep(0.5)
            _wait_outbox_empty(workdir / "chaos.sqlite", settle.proc, timeout=30)
            code = settle.stop(signal.SIGTERM)
            if not ready or code != 0:
                result.crashes += 1
                result.violations.append((n, Violation("clean_stop", f"settle run {'never got ready' if not ready else ''}"
                                                                     f" exited {code}; see {settle.path.name}")))
            store_url = f"sqlite:///{workdir / 'chaos.sqlite'}"
            for v in check(store_url, venue, 2, MAX_ORDER_NOTIONAL):
                result.violations.append((n, v))
            alerts, result.alert_duplicates = check_alerts(store_url, telegram.sent, ADMIN, result.kills)
            result.violations.extend((n, v) for v in alerts)
            result.violations.extend((n, Violation("telegram_schema", v)) for v in telegram.violations)
            telegram.violations.clear()
    finally:
        venue.stop()
        telegram.stop()
    result.alerts_delivered = sum(1 for m in telegram.sent if m.get("method") == "sendMessage")
    result.simulated_days = (venue.now_ms() - start_ms) / 86_400_000
    result.orders = sum(1 for o in venue.orders.values() if o.client_order_id.startswith("qd-"))
    result.fills = len(venue.trades)
    result.faults = dict(venue.injected)
    result.venue, result.store_url = venue, f"sqlite:///{workdir / 'chaos.sqlite'}"
    (workdir / "result.json").write_text(json.dumps({"summary": result.summary(), "faults": result.faults,
                                                      "violations": [f"round {n}: {v}" for n, v in result.violations]},
                                                     indent=1))
    return result
