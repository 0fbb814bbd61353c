"""``quantd data download | list``: historical candles (and a perpetual's funding rates) from an
exchange into a data folder."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bot.backtest_cmd import parse_time_ms
from bot.progress import Bar, add_quiet_argument
from engine.data import load_ohlcv
from engine.data.ohlcv import symbol_timeframe_from_name
from engine.errors import ConfigError, DataError
from engine.timeframes import iso_utc, timeframe_to_ms


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``data download`` and ``data list``."""
    data = sub.add_parser("data", help="download and list historical candles")
    verbs = data.add_subparsers(dest="verb", required=True, metavar="{download,list}")
    dl = verbs.add_parser("download", help="fetch closed candles through ccxt; resumes an existing file",
                          description="Paginated fetch_ohlcv at the exchange's rate limit; closed candles only; "
                                      "appends to an existing file without duplicates, then checks it.")
    dl.add_argument("--exchange", default="binance", help="ccxt exchange id (default binance)")
    dl.add_argument("--symbol", required=True, help="e.g. BTC/USDT")
    dl.add_argument("--timeframe", required=True, help="e.g. 1h")
    dl.add_argument("--since", required=True, help="first candle, ISO-8601 (UTC if no zone); ignored when resuming")
    dl.add_argument("--until", default=None, help="end (exclusive), ISO-8601; default: the last closed candle")
    dl.add_argument("--dir", default="data", help="data folder (default ./data)")
    dl.add_argument("--format", choices=["csv.gz", "parquet"], default="csv.gz")
    dl.add_argument("--market", choices=["spot", "futures"], default="spot",
                    help="futures: the USDT-margined perpetual's candles (BASE_QUOTE_QUOTE-TF-futures.csv.gz)")
    dl.add_argument("--funding", action="store_true",
                    help="also the perpetual's funding rates (BASE_QUOTE_QUOTE-8h-funding_rate.csv; --market futures)")
    dl.add_argument("--api-url", default=None, help="another REST host for the exchange (mirrors, tests)")
    add_quiet_argument(dl)
    dl.set_defaults(func=download_main)
    ls = verbs.add_parser("list", help="what the data folder holds: symbol, timeframe, range, rows, gaps")
    ls.add_argument("--dir", default="data", help="data folder (default ./data)")
    ls.set_defaults(func=list_main)


def download_main(args: argparse.Namespace) -> int:
    """Run ``quantd data download``; 0 on success."""
    from gateways.ccxt_gateway import CcxtGateway
    from gateways.download import download, download_funding, file_name, funding_name, perpetual_name

    timeframe_to_ms(args.timeframe)  # a bad timeframe fails before any request
    since = parse_time_ms(args.since, "--since")
    until = parse_time_ms(args.until, "--until")
    if until is not None and until <= since:
        raise ConfigError("--until must be after --since")
    if args.funding and args.market != "futures":
        raise ConfigError("--funding: funding rates are a perpetual's; add --market futures")
    futures = args.market == "futures"
    name = perpetual_name if futures else file_name
    path = Path(args.dir) / name(args.symbol, args.timeframe, args.format)
    gateway = CcxtGateway(args.exchange, api_url=args.api_url, market=args.market)
    tf_ms = timeframe_to_ms(args.timeframe)
    expected = max(1, ((until or int(time.time() * 1000)) - since) // tf_ms)  # an upper bound: gaps, resumes
    bar = Bar(f"download {args.symbol} {args.timeframe}", "candle", args.quiet, total=expected)

    def progress(added: int, newest_ms: int) -> None:
        bar.set_postfix(f"up to {iso_utc(newest_ms)}")
        bar(min(added, expected))

    try:
        gateway.load_markets()
        if gateway.venue_symbol(args.symbol) not in gateway.exchange.markets:
            what = "USDT-margined perpetual" if futures else "such market"
            raise ConfigError(f"--symbol {args.symbol}: {args.exchange} has no {what}")
        result = download(gateway, args.symbol, args.timeframe, path, since, until, progress=progress)
        bar.close()
        funding = download_funding(gateway, args.symbol, Path(args.dir) / funding_name(args.symbol), since, until) \
            if args.funding else None
    finally:
        gateway.close()
        bar.close()
    resumed = f" (resumed after {iso_utc(result.resumed_from)})" if result.resumed_from is not None else ""
    print(f"{path}: {result.added:,} candles added in {result.pages} page(s){resumed}")
    print(result.report.summary())
    for gap in result.report.gaps[:20]:
        print(f"  gap {iso_utc(gap.after_ms)} -> {iso_utc(gap.next_ms)}: {gap.missing} missing")
    if funding is not None:
        resumed = f" (resumed after {iso_utc(funding.resumed_from)})" if funding.resumed_from is not None else ""
        print(f"{funding.path}: {funding.added:,} funding rates added in {funding.pages} page(s){resumed}")
    return 0


def list_main(args: argparse.Namespace) -> int:
    """Run ``quantd data list``; 0 (an empty folder prints nothing but a note)."""
    folder = Path(args.dir)
    files = sorted([*folder.glob("*.csv.gz"), *folder.glob("*.csv"), *folder.glob("*.parquet")])
    if not files:
        print(f"no OHLCV files in {folder}")
        return 0
    rows = [("file", "symbol", "tf", "first", "last", "rows", "gaps/missing")]
    for path in files:
        symbol, timeframe = symbol_timeframe_from_name(path)
        try:
            _, report = load_ohlcv(path)
        except DataError as exc:
            rows.append((path.name, symbol or "?", timeframe or "?", "unreadable", str(exc)[:60], "", ""))
            continue
        rows.append((path.name, symbol or "?", report.timeframe, iso_utc(report.first_ms), iso_utc(report.last_ms),
                     f"{report.rows:,}", f"{len(report.gaps)}/{report.missing_candles}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0
