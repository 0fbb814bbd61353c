"""``quantd validate``: vectorised vs event-driven parity of the built-in strategies."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.backtest_cmd import add_strategy_module_argument
from bot.progress import Bar, add_quiet_argument
from engine.backtest.engine import BacktestConfig
from engine.backtest.parity import compare, markdown
from engine.backtest.vectorized import supports_vectorized
from engine.data import load_ohlcv
from engine.data.ohlcv import symbol_timeframe_from_name
from engine.errors import ConfigError
from engine.futures import FundingRates
from engine.strategy import available, create
from gateways import sample_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``validate`` sub-command."""
    p = sub.add_parser("validate", help="check that vectorised and event-driven backtests agree",
                       description="For each strategy and file, run both engines and report the "
                                   "matching trades. Exit 1 unless every row is 100%%.")
    p.add_argument("--data", action="append", default=[], metavar="FILE",
                   help="OHLCV file, repeatable (default: the bundled sample)")
    p.add_argument("--strategy", action="append", default=[], metavar="NAME",
                   help="strategy, repeatable (default: every built-in with signals(df))")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="strategy parameter (with one --strategy), repeatable")
    p.add_argument("--stake", default="all", help="'all', a quote amount or 'N%%' (default all)")
    p.add_argument("--slippage-bps", default="0", help="slippage per fill, basis points (default 0)")
    p.add_argument("--market", choices=("spot", "futures"), default="spot",
                   help="futures: long and short on a perpetual account (with --param allow_short=true)")
    p.add_argument("--leverage", default="1", help="futures: position notional per unit of margin (default 1)")
    p.add_argument("--funding", default=None, metavar="FILE", help="futures: funding rates CSV (timestamp,funding_rate)")
    p.add_argument("--out", default=None, help="also write the table to this Markdown file")
    p.add_argument("--json", action="store_true", help="print one JSON object per row instead")
    add_strategy_module_argument(p)
    add_quiet_argument(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Print the parity table; 0 when every row has full parity, 1 otherwise."""
    from decimal import Decimal

    from bot.backtest_cmd import _decimal, parse_params

    names = args.strategy or [n for n in available() if supports_vectorized(create(n))]
    params = parse_params(args.param)
    if params and len(names) != 1:
        raise ConfigError("--param needs exactly one --strategy")
    for name in names:
        create(name, params)  # a bad name or parameter fails before any work
    paths = args.data or [str(sample_path())]
    slippage = _decimal(args.slippage_bps, "--slippage-bps", Decimal(0))
    leverage = _decimal(args.leverage, "--leverage", Decimal(1))
    funding = FundingRates.read_csv(args.funding) if args.funding else None
    rows = []
    bar = Bar("validate", "run", args.quiet, total=len(paths) * len(names))
    for path in paths:
        symbol, _ = symbol_timeframe_from_name(path)
        df, report = load_ohlcv(path)
        config = BacktestConfig(symbol=symbol or "BTC/USDT", timeframe=report.timeframe, stake=args.stake,
                                slippage_bps=slippage, market=args.market, leverage=leverage, funding=funding)
        for name in names:
            row = compare(df, lambda name=name: create(name, params), config, Path(path).name)
            rows.append(row)
            bar(len(rows))
            if args.json:
                print(json.dumps(row.as_dict()), flush=True)
            elif not args.quiet:
                bar.write(f"  {row.strategy} on {row.file}: {row.matching_pct:.2f}%")
    bar.close()
    table = markdown(rows)
    if not args.json:
        print(table, end="")
    if args.out:
        Path(args.out).write_text(table)
    return 0 if all(r.ok for r in rows) else 1
