"""``quantd new-config`` (a commented YAML for paper, dry-run or live, validated before it is
written) and ``quantd config show`` (the effective settings, secrets masked, each with its source)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from engine.errors import ConfigError

MODES = ("paper", "dry_run", "live")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``new-config`` and ``config show``."""
    p = sub.add_parser("new-config", help="write a commented YAML config for paper, dry-run or live",
                       description="Writes a commented config, validated as `quantd run` would load it. Flags "
                                   "answer the questions; --interactive asks the ones not given.")
    p.add_argument("--mode", choices=MODES, default=None, help="paper (default), dry_run or live")
    p.add_argument("--exchange", default=None, help="ccxt exchange id for dry_run/live (default binance)")
    p.add_argument("--symbol", default=None, help="market, BASE/QUOTE (default BTC/USDT)")
    p.add_argument("--timeframe", default=None, help="candle length (default 5m)")
    p.add_argument("--strategy", default=None, help="strategy name, see quantd strategies (default sma_cross)")
    p.add_argument("--stake", default=None, help="quote per entry, 'N%%' of equity or 'all' (default 10%%)")
    p.add_argument("--telegram-admin", type=int, action="append", default=[], metavar="USER_ID",
                   help="Telegram user id allowed every command; repeatable (the token goes in the vault)")
    p.add_argument("--out", default="quantd.yaml", help="file to write (default ./quantd.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--interactive", "-i", action="store_true", help="ask for each value not given as a flag")
    p.set_defaults(func=new_config_main)

    config = sub.add_parser("config", help="show the effective settings and where each comes from")
    actions = config.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="every setting, secrets masked, with its source (cli, env, file, default)",
                              description="The settings `quantd run --config FILE` would use.")
    show.add_argument("section", nargs="?", default=None, help="only this section, e.g. risk")
    show.add_argument("--config", default=None, help="YAML config file")
    show.add_argument("--json", action="store_true", help="print JSON: [{key, value, source}]")
    show.set_defaults(func=show_main)


QUESTIONS = (("mode", "mode (paper, dry_run, live)", "paper"), ("exchange", "exchange (ccxt id)", "binance"),
             ("symbol", "symbol", "BTC/USDT"), ("timeframe", "timeframe", "5m"),
             ("strategy", "strategy (quantd strategies lists them)", "sma_cross"),
             ("stake", "stake per entry (quote amount, N% or all)", "10%"))


def answers(args: argparse.Namespace, ask=input) -> dict:
    """The generator's values: flags first, then (with ``--interactive``) ``ask(prompt)`` for the
    rest, else the defaults. The exchange is asked only for dry_run and live."""
    out: dict = {}
    for key, prompt, default in QUESTIONS:
        value = getattr(args, key)
        if value is None and args.interactive and (key != "exchange" or out.get("mode") != "paper"):
            try:
                value = ask(f"{prompt} [{default}]: ").strip() or None
            except EOFError:
                raise ConfigError("--interactive reads the answers from a terminal and got none; "
                                  "give the values as flags (--mode, --symbol, ...)") from None
        out[key] = value or default
    if out["mode"] not in MODES:
        raise ConfigError(f"mode {out['mode']!r}: one of {', '.join(MODES)}")
    out["admins"] = list(args.telegram_admin)
    return out


def render(a: dict) -> str:
    """The commented YAML for answers ``a`` (see :func:`answers`)."""
    mode, quote = a["mode"], a["symbol"].split("/")[-1]
    lines = [f"# quantd config, written by `quantd new-config` ({mode}).",
             "#   check it:  quantd doctor --config THIS_FILE",
             "#   see it:    quantd config show --config THIS_FILE",
             "#   run it:    quantd run --config THIS_FILE",
             "# Every key: README.md; every strategy parameter: quantd strategies NAME.",
             f"mode: {mode}   # paper: replayed real candles, simulated fills | dry_run: the exchange's live "
             "candles, simulated fills, no keys | live: real orders",
             "",
             "strategy:",
             f"  name: {a['strategy']}",
             f"  symbol: {a['symbol']}",
             f"  timeframe: {a['timeframe']}",
             "  params: {}          # empty: the strategy's defaults",
             f"  stake: \"{a['stake']}\"   # {quote} per entry, 'N%' of equity, or 'all'",
             ""]
    if mode == "paper":
        lines += ["paper:",
                  "  cash: 10000          # starting cash, " + quote,
                  "  fee: 0.001           # per fill, fraction of notional (0.1%)",
                  "  slippage_bps: 5",
                  "replay:",
                  "  speed: 10            # candles per second; data: FILE to replay your own (default: the "
                  "bundled sample)",
                  ""]
    else:
        lines += ["exchange:",
                  f"  id: {a['exchange']}",
                  "  sandbox: false       # true: the exchange's testnet",
                  "  poll_secs: 2.0",
                  "  reconcile_secs: 60"]
        if mode == "live":
            lines += [f"  # capital: 1000       # {quote} quantd may use; default: the whole {quote} balance",
                      f"  # keys: vault/{a['exchange']}.json (chmod 600), never in this file"]
        lines += ["paper:                 # dry_run fills are simulated with these costs" if mode == "dry_run"
                  else "paper:                 # used by backtests of this config",
                  "  fee: 0.001", "  slippage_bps: 5", ""]
    lines += ["store:",
              f"  url: sqlite:///var/quantd-{mode}.sqlite   # one daemon per store",
              "",
              "risk:                   # refused orders are counted and alerted; the breaker halts trading",
              "  max_drawdown_pct: 20       # halt below 80% of the equity peak",
              "  daily_loss_limit_pct: 5    # halt for the day after losing 5% of the day's start equity",
              "  max_open_positions: 3",
              "  stop_loss_pct: 5           # per position, from the entry price"]
    if mode == "live":
        lines += ["  stop_on_exchange: true     # the stop rests on the exchange, so it outlives quantd"]
    lines += ["", "telegram:               # token: vault/telegram.json (chmod 600) or QUANTD_TELEGRAM__TOKEN",
              f"  admins: [{', '.join(str(x) for x in a['admins'])}]" + ("" if a["admins"] else
                                                                         "            # your user id, e.g. [123456789]"),
              "  viewers: []", ""]
    return "\n".join(lines)


def new_config_main(args: argparse.Namespace) -> int:
    """Write the config; 0, or a ConfigError (exit 2) before anything is written."""
    from bot.config import load_settings

    out = Path(args.out)
    if out.exists() and not args.force:
        raise ConfigError(f"--out {out}: the file exists; give --force to overwrite it")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: the folder {out.parent} does not exist")
    text = render(answers(args))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as tmp:
        tmp.write(text)
    try:
        load_settings(tmp.name)  # the exact file, validated as `quantd run` loads it
    finally:
        Path(tmp.name).unlink()
    out.write_text(text)
    print(f"config written: {out}\nnext: quantd doctor --config {out}   then   quantd run --config {out}")
    return 0


def show_main(args: argparse.Namespace) -> int:
    """Print the effective settings; 0."""
    from bot.config import load_settings
    from bot.config_view import config_text, effective_settings

    settings = load_settings(args.config)
    if args.json:
        rows = [{"key": k, "value": v, "source": s} for k, v, s in effective_settings(settings, **settings._origin)
                if args.section is None or k.split(".")[0] == args.section]
        print(json.dumps(rows))
        return 0 if rows else 2
    text = config_text(settings, args.section)
    if text.startswith("no section"):
        print(f"quantd config show: error: {text}", file=sys.stderr)
        return 2
    print(text)
    return 0
