"""``quantd backtest``: load data, run the event-driven backtester, print and export."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pydantic import ValidationError

from bot.progress import Bar, add_quiet_argument
from engine.backtest.analysis import (
    LABELS,
    REJECTION_HINTS,
    Benchmark,
    buy_and_hold,
    duration,
    human,
    run_summary,
    summary,
)
from engine.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from engine.backtest.trades import write_trades_csv
from engine.backtest.vectorized import VectorizedResult, run_vectorized
from engine.data import load_ohlcv
from engine.data.ohlcv import symbol_timeframe_from_name
from engine.errors import ConfigError
from engine.events import EventKind
from engine.futures import FundingRates, LeverageTiers
from engine.risk.limits import RiskLimits
from engine.strategy import create
from engine.timeframes import iso_utc, timeframe_to_ms
from engine.validation import explain
from gateways import sample_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``backtest`` sub-command."""
    p = sub.add_parser("backtest", help="backtest a strategy on an OHLCV file",
                       description="Event-driven backtest: signals on a candle's close fill at the next open.")
    p.add_argument("--strategy", default="sma_cross", help="registered strategy name (default sma_cross)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter, repeatable")
    p.add_argument("--data", default=None, help="CSV, CSV.gz or Parquet OHLCV file (default: the bundled sample)")
    p.add_argument("--symbol", default=None, help="e.g. BTC/USDT (default: from the file name)")
    p.add_argument("--timeframe", default=None, help="e.g. 1h (default: from the file name or the data)")
    add_cost_arguments(p)
    p.add_argument("--from", dest="start", default=None, help="first candle time, ISO-8601 (UTC if no zone)")
    p.add_argument("--to", dest="end", default=None, help="end time (exclusive), ISO-8601")
    p.add_argument("--trades-out", default=None, help="write the trade list to this CSV file")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="portfolio backtest of the config's markets (strategies:) on one account, with its "
                        "paper costs, instruments and risk section; each market's data: file or bundled sample")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="write metrics.json, trades.csv, equity.csv, equity.png, monthly_returns.csv and "
                        "a self-contained report.html into DIR")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (units in the keys)")
    add_quiet_argument(p)
    p.add_argument("--vectorized", action="store_true",
                   help="array-at-a-time run for strategies with signals(df): same fills, no risk manager")
    p.set_defaults(func=main)


def add_cost_arguments(p: argparse.ArgumentParser) -> None:
    """The account, cost and risk flags shared by backtest, sweep, walkforward and validate."""
    add_strategy_module_argument(p)
    p.add_argument("--cash", default=None, help="starting cash, quote currency (default 10000)")
    p.add_argument("--fee", default=None, help="fee per fill as a fraction of notional (default 0.001)")
    p.add_argument("--slippage-bps", default=None, help="slippage per fill in basis points (default 0)")
    p.add_argument("--slippage-range", default="0", metavar="FRAC",
                   help="extra slippage: this fraction of the previous candle's high-low range (default 0)")
    p.add_argument("--impact", default="0", metavar="K",
                   help="extra slippage: K x sqrt(notional / previous candle's quote volume), capped at 10%% (default 0)")
    p.add_argument("--latency-candles", default=0, type=int, metavar="N",
                   help="orders fill at the open N candles after the next one (default 0: next open)")
    p.add_argument("--stake", default="all", help="'all', a quote amount or 'N%%' of equity per entry (default all)")
    p.add_argument("--risk", action="append", default=[], metavar="KEY=VALUE",
                   help="risk limit, repeatable, e.g. max_drawdown_pct=20 (keys as in the config's risk section)")
    p.add_argument("--market", choices=("spot", "futures"), default="spot",
                   help="spot (long-only, default) or futures: a USDT-margined perpetual with shorts, leverage, "
                        "funding and liquidation; the stake is then the margin per entry")
    p.add_argument("--leverage", default="1", help="futures: position notional per unit of margin (default 1)")
    p.add_argument("--funding", default=None, metavar="FILE",
                   help="futures: funding rates CSV (timestamp,funding_rate) charged at their times")
    p.add_argument("--maintenance-rate", default="0.004", metavar="FRAC",
                   help="futures: maintenance margin rate of the liquidation price (default 0.004, Binance's first tier)")
    p.add_argument("--tiers", default=None, metavar="FILE",
                   help="futures: the market's maintenance tiers, a JSON of ccxt fetch_leverage_tiers() "
                        "(instead of --maintenance-rate)")


def add_strategy_module_argument(p: argparse.ArgumentParser) -> None:
    """``--strategy-module``: a module of the user's strategies to import first (its
    ``@register`` names become known); :func:`bot.cli.main` loads it."""
    p.add_argument("--strategy-module", action="append", default=[], metavar="MODULE",
                   help="import your strategies first: a dotted module on PYTHONPATH or a .py file; repeatable")


def config_from_args(args: argparse.Namespace, symbol: str, timeframe: str,
                     defaults: dict[str, str] | None = None) -> BacktestConfig:
    """A :class:`BacktestConfig` from the :func:`add_cost_arguments` flags; a flag not given
    takes its value from ``defaults`` (keys cash, fee, slippage_bps), else 10000, 0.001, 0.

    Raises:
        ConfigError: naming the flag and the problem.
    """
    given = {"cash": "10000", "fee": "0.001", "slippage_bps": "0", **(defaults or {})}
    for key in given:
        if getattr(args, key) is not None:
            given[key] = getattr(args, key)
    config = BacktestConfig(
        symbol=symbol, timeframe=timeframe,
        cash=_decimal(given["cash"], "--cash", Decimal(0), inclusive=False),
        fee_rate=_decimal(given["fee"], "--fee", Decimal(0)),
        slippage_bps=_decimal(given["slippage_bps"], "--slippage-bps", Decimal(0)),
        slippage_range_frac=_decimal(args.slippage_range, "--slippage-range", Decimal(0)),
        impact_k=_decimal(args.impact, "--impact", Decimal(0)), latency_candles=args.latency_candles,
        stake=args.stake, limits=parse_limits(args.risk), market=args.market,
        leverage=_decimal(args.leverage, "--leverage", Decimal(1)),
        maintenance_rate=_decimal(args.maintenance_rate, "--maintenance-rate", Decimal(0)),
        funding=FundingRates.read_csv(args.funding) if args.funding else None,
        tiers=LeverageTiers.read_json(args.tiers, symbol) if args.tiers else None)
    if config.latency_candles < 0:
        raise ConfigError(f"--latency-candles {args.latency_candles}: a number of candles, 0 or more")
    if config.fee_rate >= 1:
        raise ConfigError(f"--fee {given['fee']!r}: a fraction of notional below 1 (0.001 = 0.1%)")
    return config


def parse_params(items: list[str]) -> dict[str, str]:
    """``["fast=10", "slow=30"]`` -> ``{"fast": "10", "slow": "30"}``.

    Raises:
        ConfigError: an item without ``=`` or an empty key.
    """
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE, e.g. --param fast=10")
        out[key.strip()] = value.strip()
    return out


def parse_limits(items: list[str]) -> RiskLimits:
    """``["max_drawdown_pct=20"]`` -> validated :class:`RiskLimits`.

    Raises:
        ConfigError: naming the limit and the problem.
    """
    try:
        return RiskLimits(**parse_params(items))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"--risk: {explain(RiskLimits, err)}") from None
        raise ConfigError(f"--risk {field}: {explain(RiskLimits, err)}") from None


def parse_time_ms(text: str | None, flag: str) -> int | None:
    """ISO-8601 date/time -> ms UTC (naive times are UTC). Raises ConfigError naming the flag."""
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: not an ISO-8601 time such as 2021-05-01 or 2021-05-01T12:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def _decimal(text: str, flag: str, minimum: Decimal, inclusive: bool = True) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{flag} {text!r}: not a number") from None
    if not value.is_finite() or value < minimum or (not inclusive and value == minimum):
        raise ConfigError(f"{flag} {text!r}: must be {'>=' if inclusive else '>'} {minimum}")
    return value


def main(args: argparse.Namespace) -> int:
    """Run the backtest described by the parsed arguments; 0 on success."""
    start, end = time_range(args.start, args.end)
    check_outputs(args.trades_out, args.report)
    if args.config:
        result, path, data_summary, frames = _portfolio(args, start, end)
        benchmark = buy_and_hold([df for df, _ in frames], result.timestamps, float(result.config.cash),
                                 float(result.config.fee_rate), [tf_ms for _, tf_ms in frames])
    else:
        strategy = create(args.strategy, parse_params(args.param))
        path = args.data or str(sample_path())
        name_symbol, _ = symbol_timeframe_from_name(path)
        df, report = load_ohlcv(path, timeframe=args.timeframe, start_ms=start, end_ms=end)
        data_summary = report.summary()
        config = config_from_args(args, args.symbol or name_symbol or "BTC/USDT", report.timeframe)
        if args.vectorized:
            result = run_vectorized(df, strategy, config)
        else:
            with Bar(f"backtest {strategy.describe()}", "candle", args.quiet) as bar:
                result = run_backtest(df, strategy, config, progress=bar)
        benchmark = buy_and_hold([df], result.timestamps, float(config.cash), float(config.fee_rate))
    if args.trades_out:
        write_trades_csv(result.trades, args.trades_out)
    if args.report:
        from bot.report import write_report  # matplotlib only when a report is asked for

        written = write_report(result, Path(args.report), f"{result.strategy} on {Path(path).name}", Path(path).name,
                               benchmark)
        print(f"report: {', '.join(str(p) for p in written)}", file=sys.stderr)
    if args.json:
        print(json.dumps(run_summary(result, benchmark, Path(path).name)))
    else:
        print(data_summary)
        print(format_table(result, benchmark))
    return 0


def time_range(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """``--from`` and ``--to`` as ms UTC.

    Raises:
        ConfigError: a time that does not parse, or ``--to`` not after ``--from`` (naming both).
    """
    start_ms, end_ms = parse_time_ms(start, "--from"), parse_time_ms(end, "--to")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ConfigError(f"--to {end} is not after --from {start}: the range starts at --from (included) and "
                          "ends before --to")
    return start_ms, end_ms


def check_outputs(trades_out: str | None, report_dir: str | None) -> None:
    """Fail before any work when an output cannot be written: the folder of ``trades_out``
    must exist and be writable; ``report_dir`` is created if missing.

    Raises:
        ConfigError: naming the flag, the path and the reason.
    """
    if trades_out is not None:
        folder = Path(trades_out).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise ConfigError(f"--trades-out {trades_out}: the folder {folder} does not exist or is not writable")
    if report_dir is not None:
        try:
            Path(report_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--report {report_dir}: cannot create the folder: {exc.strerror}") from None
        if not os.access(report_dir, os.W_OK):
            raise ConfigError(f"--report {report_dir}: the folder is not writable")


def _portfolio(args: argparse.Namespace, start: int | None, end: int | None) -> tuple[BacktestResult, str, str, list]:
    """The ``--config`` run: every configured market on one account (ADR 0007)."""
    from bot.config import load_settings
    from engine.backtest.portfolio import run_portfolio_backtest

    if args.vectorized or args.data or args.param or args.symbol:
        raise ConfigError("--config takes the markets from the file: drop --vectorized, --data, --param and --symbol")
    settings = load_settings(args.config)
    p = settings.paper
    config = config_from_args(args, "", "", {"cash": str(p.cash), "fee": str(p.fee),
                                             "slippage_bps": str(p.slippage_bps)})
    limits = RiskLimits(**{**settings.risk.model_dump(exclude_unset=True), **config.limits.model_dump(exclude_unset=True)})
    markets, summaries = config_markets(settings, start, end)
    if settings.market == "futures":  # the daemon's futures account (ADR 0017)
        f = settings.futures
        config = replace(config, market="futures", leverage=f.leverage, maintenance_rate=f.maintenance_rate,
                         tiers=settings.leverage_tiers())
    result = run_portfolio_backtest(markets, replace(config, limits=limits))
    return result, args.config, "\n".join(summaries), [(m.df, timeframe_to_ms(m.timeframe)) for m in markets]


def config_markets(settings, start_ms: int | None = None, end_ms: int | None = None) -> tuple[list, list[str]]:
    """The portfolio-backtest markets of a daemon config (``settings``: bot.config.Settings):
    each market's strategy, its replay file (or bundled sample) cut to [start_ms, end_ms), its
    paper instrument and, on market futures, its funding rates, as the paper daemon would trade
    it; plus one data summary line each.

    Raises:
        ConfigError, DataError: a market without data, or a bad file.
    """
    from engine.backtest.portfolio import Market

    markets, summaries = [], []
    for m in settings.markets():
        file = settings.replay_file(m)
        df, report = load_ohlcv(file, timeframe=m.timeframe, start_ms=start_ms, end_ms=end_ms)
        summaries.append(f"{m.symbol} {m.timeframe} ({Path(file).name}): {report.summary()}")
        funding = settings.funding_rates(m) if settings.market == "futures" else None
        markets.append(Market(df, create(m.name, m.params), m.symbol, m.timeframe, m.stake, settings.instrument(m),
                              funding))
    return markets, summaries


def format_table(result: "BacktestResult | VectorizedResult", benchmark: Benchmark | None = None) -> str:
    """The run for a person: the figures with their units, the trades by exit reason and by
    entry signal, and each risk rule that refused orders with why."""
    quote = result.config.symbol.split("/")[-1] if "/" in result.config.symbol else ""
    figures = summary(result, benchmark)
    futures = f" perpetual futures, {result.config.leverage}x" if result.config.market == "futures" else ""
    rows = [("strategy", result.strategy), ("market", f"{result.config.symbol} {result.config.timeframe}{futures}"),
            ("period", f"{iso_utc(int(result.timestamps[0]))} .. {iso_utc(int(result.timestamps[-1]))}")]
    rows += [(LABELS[k], human(k, v, quote)) for k, v in figures.items() if k in LABELS]
    for rule, n in sorted(result.rejections.items()):
        example = next((e.reason for e in result.events if e.kind == EventKind.RISK_DECISION and e.action == "reject"
                        and e.rule == rule), "")
        hint = REJECTION_HINTS.get(rule)
        rows.append((f"rejected by {rule}", f"{n} (e.g. {example})" + (f": {hint}" if hint else "")))
    rows += [("breaker halted", f"{iso_utc(t.ts_ms)} at equity {t.equity:,.2f}: {t.reason}")
             for t in result.breaker_trips]
    width = max(len(k) for k, _ in rows)
    out = "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
    for key, title in (("by_exit_reason", "exit reason"), ("by_entry_signal", "entry signal")):
        if figures[key]:
            out += "\n\n" + group_table(figures[key], key[3:], title, quote)
    return out


def group_table(rows: list[dict], key: str, title: str, quote: str = "") -> str:
    """A breakdown (:func:`engine.backtest.analysis.breakdown`) as aligned text columns."""
    header = [title, "trades", "win rate", f"pnl {quote}".rstrip(), "mean return", "mean holding"]
    body = [[str(r[key]), f"{r['trades']:,}", f"{r['win_rate_pct']:.1f} %", f"{r['pnl_quote']:,.2f}",
             f"{r['mean_return_pct']:.2f} %", duration(r["mean_holding_s"])] for r in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header, *body]]
    return "\n".join(lines)
