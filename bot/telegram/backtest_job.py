"""``/backtest`` from chat: parse the request, find the data, run the event-driven
backtester with progress and cancellation, and produce the metrics table, the chart and
the trades CSV. Runs in a worker thread, never on the event loop (the trading engine has
its own thread anyway)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.backtest_cmd import format_table, parse_time_ms
from bot.telegram.chart import equity_drawdown_png
from engine.backtest.analysis import buy_and_hold
from engine.backtest.engine import BacktestConfig, run_backtest
from engine.backtest.trades import write_trades_csv
from engine.data import load_ohlcv
from engine.errors import BacktestCanceled, ConfigError, QuantdError
from engine.strategy import create
from engine.timeframes import timeframe_to_ms
from gateways import sample_path

USAGE = ("usage: /backtest <strategy> <symbol> <timeframe> [key=value ...] [from=YYYY-MM-DD] [to=YYYY-MM-DD]\n"
         "e.g. /backtest sma_cross BTC/USDT 5m fast=10 slow=30 from=2020-12-20\n"
         "keys other than from, to, cash, fee, slippage_bps, stake, market, leverage are strategy parameters\n"
         "futures: market=futures leverage=3 allow_short=true")

_RUN_KEYS = ("from", "to", "cash", "fee", "slippage_bps", "stake", "market", "leverage")


class UsageError(ValueError):
    """A request that cannot run; the message is the reply."""


@dataclass
class BacktestRequest:
    """What ``/backtest`` asked for (times ms UTC, money in quote)."""

    strategy: str
    symbol: str
    timeframe: str
    params: dict[str, str] = field(default_factory=dict)
    start_ms: int | None = None
    end_ms: int | None = None
    cash: Decimal = Decimal(10_000)
    fee: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal(5)
    stake: str = "all"
    market: str = "spot"
    leverage: Decimal = Decimal(1)

    def describe(self) -> str:
        """One line naming the run."""
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        futures = f" futures {self.leverage}x" if self.market == "futures" else ""
        return f"{self.strategy} {self.symbol} {self.timeframe}{futures}" + (f" {params}" if params else "")


@dataclass
class BacktestOutput:
    """What the chat gets back: the metrics table (text), the chart (PNG) and the trades (CSV)."""

    table: str
    png: bytes
    csv: bytes
    n_trades: int


def parse_request(args: list[str]) -> BacktestRequest:
    """Parse ``/backtest`` arguments.

    Raises:
        UsageError: missing or malformed arguments (message includes the usage).
    """
    if len(args) < 3:
        raise UsageError(USAGE)
    strategy, symbol, timeframe = args[0], args[1].upper(), args[2]
    if "/" not in symbol:
        raise UsageError(f"symbol {args[1]!r}: expected BASE/QUOTE such as BTC/USDT\n{USAGE}")
    try:
        timeframe_to_ms(timeframe)
    except (ValueError, QuantdError):  # an unknown unit ('off') is a QuantdError, not a ConfigError
        raise UsageError(f"timeframe {timeframe!r}: expected 1m, 5m, 1h, 1d ...\n{USAGE}") from None
    req = BacktestRequest(strategy, symbol, timeframe)
    for item in args[3:]:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{item!r}: expected key=value\n{USAGE}")
        try:
            if key == "from":
                req.start_ms = parse_time_ms(value, "from=")
            elif key == "to":
                req.end_ms = parse_time_ms(value, "to=")
            elif key in ("cash", "fee", "slippage_bps"):
                number = Decimal(value)
                if not number.is_finite() or number < 0 or (key == "cash" and number == 0) or \
                        (key == "fee" and number >= 1):
                    raise UsageError(f"{key}={value}: out of range")
                setattr(req, key, number)
            elif key == "stake":
                req.stake = value
            elif key == "market":
                if value not in ("spot", "futures"):
                    raise UsageError(f"market={value}: spot or futures")
                req.market = value
            elif key == "leverage":
                req.leverage = Decimal(value)
                if not req.leverage.is_finite() or req.leverage < 1:
                    raise UsageError(f"leverage={value}: a number from 1")
            else:
                req.params[key] = value
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        except InvalidOperation:
            raise UsageError(f"{key}={value}: not a number") from None
    return req


def data_file(req: BacktestRequest, data_dir: Path | None) -> Path:
    """The OHLCV file for the request: ``<data_dir>/<BASE>_<QUOTE>-<tf>.csv.gz|.csv|.parquet``
    when a data folder is configured and has it, else the bundled sample.

    Raises:
        UsageError: no such file (the message lists what is available).
    """
    stem = f"{req.symbol.replace('/', '_')}-{req.timeframe}"
    folders = ([data_dir] if data_dir is not None else []) + [sample_path().parent]
    for folder in folders:
        for ext in (".csv.gz", ".csv", ".parquet"):
            if (folder / f"{stem}{ext}").is_file():
                return folder / f"{stem}{ext}"
    available = sorted({p.name.split(".")[0] for folder in folders if folder.is_dir() for p in folder.iterdir()
                        if p.name.endswith((".csv.gz", ".csv", ".parquet"))})
    raise UsageError(f"no data for {req.symbol} {req.timeframe}; available: {', '.join(available) or 'none'}")


def run_request(req: BacktestRequest, data_dir: Path | None,
                progress: Callable[[int, int], bool] | None = None) -> BacktestOutput:
    """Run the backtest (blocking: call it from a worker thread).

    Raises:
        UsageError: bad strategy, parameters, data or period.
        BacktestCanceled: ``progress`` returned False.
    """
    path = data_file(req, data_dir)
    try:
        strategy = create(req.strategy, dict(req.params))
        df, report = load_ohlcv(path, timeframe=req.timeframe, start_ms=req.start_ms, end_ms=req.end_ms)
        if len(df) < 2:
            raise UsageError(f"{path.name} has {len(df)} candle(s) in that period: nothing to backtest")
        config = BacktestConfig(symbol=req.symbol, timeframe=report.timeframe, cash=req.cash, fee_rate=req.fee,
                                slippage_bps=req.slippage_bps, stake=req.stake, market=req.market,
                                leverage=req.leverage)
        result = run_backtest(df, strategy, config, progress)
    except BacktestCanceled:
        raise
    except QuantdError as exc:  # unknown strategy, bad parameter, bad data or period
        raise UsageError(str(exc)) from None
    png = equity_drawdown_png(result.timestamps, result.equity, req.describe(), req.symbol.split("/")[1])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "trades.csv"
        write_trades_csv(result.trades, out)
        csv = out.read_bytes()
    benchmark = buy_and_hold([df], result.timestamps, float(config.cash), float(config.fee_rate))
    return BacktestOutput(format_table(result, benchmark), png, csv, len(result.trades))
