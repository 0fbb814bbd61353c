"""``quantd strategies [NAME]``: the strategies quantd knows, and one strategy's parameters."""

from __future__ import annotations

import argparse
import inspect
import json
import re

from bot.backtest_cmd import add_strategy_module_argument
from engine.strategy import Strategy, available, describe_params, strategy_class


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``strategies`` sub-command."""
    p = sub.add_parser("strategies", help="list the strategies, or show one with its parameters",
                       description="Without NAME: every registered strategy (built-ins, your --strategy-module, "
                                   "installed plug-ins) with its summary and default parameters. With NAME: its "
                                   "description, each parameter's type, default and range, and its sweep grid.")
    p.add_argument("name", nargs="?", default=None, help="a strategy name, e.g. sma_cross")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_strategy_module_argument(p)
    p.set_defaults(func=main)


def strategy_info(name: str) -> dict:
    """``{name, summary, description, params, search_space, vectorized, module}`` of strategy ``name``.

    Raises:
        StrategyError: unknown name (with a suggestion).
    """
    cls = strategy_class(name)
    doc = inspect.getdoc(cls) or ""
    summary = doc.split("\n\n")[0].replace("\n", " ").replace("``", "") if doc else ""
    summary = re.split(r"(?<=[a-z)]): |\. ", summary, maxsplit=1)[0].rstrip(".")
    return {"name": name, "summary": summary, "description": doc, "params": describe_params(cls),
            "search_space": {k: list(v) for k, v in cls.search_space.items()},
            "vectorized": cls.signals is not Strategy.signals, "module": cls.__module__}


def main(args: argparse.Namespace) -> int:
    """Print the list, or one strategy; 0 (an unknown name is a StrategyError, exit 2)."""
    if args.name:
        info = strategy_info(args.name)
        if args.json:
            print(json.dumps(info, default=str))
            return 0
        print(f"{info['name']}  ({info['module']})\n")
        print(info["description"] or "(no description)")
        print("\nparameters:")
        rows = [(p["name"], p["type"], f"default {p['default']}", p["range"], p["description"]) for p in info["params"]]
        print(_columns(rows) if rows else "  (none)")
        if info["search_space"]:
            print("\nsweep grid (quantd sweep / walkforward without --grid):")
            for key, values in info["search_space"].items():
                print(f"  {key}: {', '.join(str(v) for v in values)}")
        print(f"\nvectorised backtest (--vectorized): {'yes' if info['vectorized'] else 'no'}")
        example = " ".join(f"--param {p['name']}={p['default']}" for p in info["params"]
                           if p["default"] is not False)  # a switch that is off by default needs no flag
        print(f"\ntry: quantd backtest --strategy {info['name']} {example}".rstrip())
        return 0
    infos = [strategy_info(name) for name in available()]
    if args.json:
        print(json.dumps(infos, default=str))
        return 0
    rows = [(i["name"], ", ".join(f"{p['name']}={p['default']}" for p in i["params"]), i["summary"]) for i in infos]
    print(_columns(rows))
    print("\nquantd strategies NAME shows one strategy's parameters and ranges")
    return 0


def _columns(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + str(r[-1]) for r in rows)
