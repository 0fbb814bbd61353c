"""The ``quantd`` command line: ``run``, ``backtest``, ``status``, ``health``, ``doctor``, operator commands.

Every expected problem ends with one line on stderr, never a traceback: exit code 2 for what
a restart cannot fix (bad config, bad data, unknown strategy, refused keys), 1 for an exchange
that cannot be reached or a store another daemon holds (a supervisor restarts the daemon),
3 for a damaged store file (restore a backup; the systemd unit does not restart on it).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from bot import backtest_cmd, config_cmd, data_cmd, strategies_cmd, sweep_cmd, validate_cmd, walkforward_cmd
from engine.commands import Verb
from engine.errors import ConfigError, QuantdError, StoreCorrupt, StoreLocked, VenueUnavailable

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_STORE_CORRUPT = 3
"""The store's file is damaged: the systemd unit does not restart on it (RestartPreventExitStatus)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = _Parser(prog="quantd", description="Headless crypto trading daemon.")
    from engine import __version__

    parser.add_argument("--version", action="version", version=f"quantd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run the trading daemon (paper mode on bundled data by default)")
    run.add_argument("--config", default=None, help="YAML config file")
    run.add_argument("--speed", type=float, default=None, help="replay speed, candles per second")
    run.add_argument("--db", default=None, help="SQLite file of the store (default var/quantd.sqlite)")
    run.add_argument("--exit-when-done", action="store_true", default=None, help="stop when the replay ends")
    run.add_argument("--mode", choices=["paper", "dry_run", "live"], default=None,
                     help="paper (default: replayed data, simulated fills), dry_run (the exchange's live candles "
                          "through ccxt, no keys, simulated fills) or live (real orders via ccxt)")
    run.set_defaults(func=_run)
    status = _store_command(sub, "status", "print mode, positions, orders, cash, equity and PnL from the store")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_status)
    health = _store_command(sub, "health", "exit 0 if the running daemon is alive on fresh data, else 1 "
                                           "(heartbeat, engine loop, data, reconciliation, store writable)")
    health.add_argument("--json", action="store_true", help="print JSON")
    health.set_defaults(func=_health)
    backup = _store_command(sub, "backup", "write a consistent copy of the SQLite store now (safe while the daemon "
                                           "runs); older copies beyond --keep are deleted")
    backup.add_argument("--dest", default=None, help="folder for the copy (default: backup.dir)")
    backup.add_argument("--keep", type=int, default=None, help="newest copies to keep (default: backup.keep)")
    backup.set_defaults(func=_backup)
    export = _store_command(sub, "export", "write trades, orders and equity from the store as CSV or Parquet")
    export.add_argument("--out", default="export", help="output folder (default ./export)")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv", help="file format (default csv)")
    export.set_defaults(func=_export)
    report = _store_command(sub, "report", "results from the store: stats (by exit reason and entry signal), "
                                           "performance (per symbol), profit, weekly, monthly")
    report.add_argument("what", choices=["stats", "performance", "profit", "weekly", "monthly"])
    report.add_argument("n", nargs="?", type=int, default=None, help="weekly/monthly: how many periods (8/6)")
    report.set_defaults(func=_report)
    doctor = _store_command(sub, "doctor", "check config, vault permissions, exchange keys, Telegram token, "
                                           "state directory and store; print a fix for each problem")
    doctor.add_argument("--mode", choices=["paper", "dry_run", "live"], default=None, help="check as this mode")
    doctor.set_defaults(func=_doctor)
    for name, text in ((Verb.PAUSE, "stop new entries (exits still work)"),
                       (Verb.RESUME, "leave paused or halted (operator decision)"),
                       (Verb.KILL, "kill switch: halt and close every position at market")):
        cmd = _store_command(sub, name, text)
        cmd.add_argument("--by", default="cli", help="who asks (recorded with the command)")
        cmd.set_defaults(func=_operator)
    backtest_cmd.add_parser(sub)
    sweep_cmd.add_parser(sub)
    data_cmd.add_parser(sub)
    validate_cmd.add_parser(sub)
    walkforward_cmd.add_parser(sub)
    strategies_cmd.add_parser(sub)
    config_cmd.add_parsers(sub)
    return parser


def _store_command(sub, name: str, text: str) -> argparse.ArgumentParser:
    """A sub-command that works on the configured store (``--config``, ``--db``)."""
    cmd = sub.add_parser(name, help=text)
    cmd.add_argument("--config", default=None, help="YAML config file")
    cmd.add_argument("--db", default=None, help="SQLite file of the store")
    return cmd


def _overrides(args: argparse.Namespace) -> dict:
    out: dict = {}
    if getattr(args, "speed", None) is not None:
        out.setdefault("replay", {})["speed"] = args.speed
    if getattr(args, "exit_when_done", None):
        out.setdefault("replay", {})["exit_when_done"] = True
    if getattr(args, "db", None):
        out["store"] = {"url": f"sqlite:///{args.db}"}
    if getattr(args, "mode", None):
        out["mode"] = args.mode
    return out


def _run(args: argparse.Namespace) -> int:
    early: list[int] = []  # a SIGTERM while the heavy imports load must still be a clean stop
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: early.append(signum))
    from bot import logs
    from bot.app import run
    from bot.config import load_settings

    settings = load_settings(args.config, **_overrides(args))
    try:
        logs.configure(settings.log_level, settings.log_format, settings.log_file, stream=sys.stdout)  # daemon: stdout
    except OSError as exc:
        raise ConfigError(f"invalid setting log_file (QUANTD_LOG_FILE): {exc}") from None
    return run(settings, early)


def _status(args: argparse.Namespace) -> int:
    from bot.config import load_settings
    from bot.status_cmd import print_status

    settings = load_settings(args.config, **_overrides(args))
    return print_status(settings.store.url, as_json=args.json)


def _health(args: argparse.Namespace) -> int:
    from bot.config import load_settings
    from bot.health_cmd import print_health

    try:
        settings = load_settings(args.config, **_overrides(args))
    except QuantdError as exc:  # a health probe answers 0 or 1 only (Docker reserves 2)
        print(f"quantd health: error: {exc}", file=sys.stderr)
        return 1
    return print_health(settings, as_json=args.json)


def _backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.config import load_settings
    from engine.store import open_store
    from engine.store.backup import backup_store

    settings = load_settings(args.config, **_overrides(args))
    folder = Path(args.dest) if args.dest else settings.backup_dir()
    if folder is None:
        raise ConfigError("quantd backup copies SQLite stores; back up PostgreSQL with pg_dump")
    store = open_store(settings.store.url, create=False)
    try:
        path, deleted = backup_store(store, folder, args.keep or settings.backup.keep)
    finally:
        store.close()
    print(f"backup written: {path}" + (f" ({len(deleted)} older copies deleted)" if deleted else ""))
    return 0


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.config import load_settings
    from bot.export_cmd import export_tables

    settings = load_settings(args.config, **_overrides(args))
    for name, (path, n) in export_tables(settings.store.url, Path(args.out), args.format).items():
        print(f"{name}: {n} rows -> {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from bot.config import load_settings
    from bot.results_text import report_text
    from engine.store import open_store

    if args.n is not None and not 1 <= args.n <= 520:
        raise ConfigError(f"n must be from 1 to 520, got {args.n}")
    settings = load_settings(args.config, **_overrides(args))
    store = open_store(settings.store.url, create=False)
    try:
        print(report_text(store, args.what, args.n or (8 if args.what == "weekly" else 6)))
    finally:
        store.close()
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from bot.doctor_cmd import print_doctor

    return print_doctor(args.config, _overrides(args))


def _operator(args: argparse.Namespace) -> int:
    from bot.config import load_settings
    from engine.live import wall_ms
    from engine.store import open_store
    from engine.store.journal import queue_command

    settings = load_settings(args.config, **_overrides(args))
    store = open_store(settings.store.url, create=False)
    try:
        queue_command(store, args.command, args.by, wall_ms())
    finally:
        store.close()
    print(f"{args.command} queued: a running daemon applies it within a second, a stopped one at its next start")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``quantd`` console script; returns the exit code."""
    from bot import logs

    logs.configure("INFO", os.environ.get("QUANTD_LOG_FORMAT", "auto"))  # `run` re-applies it from the settings
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "strategy_module", None):
            from engine.strategy import load_module

            for module in args.strategy_module:
                load_module(module)
        return args.func(args)
    except (VenueUnavailable, StoreLocked) as exc:  # exit 1: a supervisor retries (2 means "fix the config")
        print(f"quantd {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except StoreCorrupt as exc:
        print(f"quantd {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_STORE_CORRUPT
    except QuantdError as exc:
        print(f"quantd {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
