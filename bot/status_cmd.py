"""``quantd status``: what the store says, without starting anything."""

from __future__ import annotations

import json

from bot.telegram.views import price_text
from engine.store import open_store
from engine.store.state import status_summary
from engine.timeframes import iso_utc


def print_status(url: str, as_json: bool = False) -> int:
    """Print the store's summary (JSON or a readable block); 0 on success.

    Raises:
        StoreError: no store at ``url``.
    """
    store = open_store(url, create=False)
    try:
        summary = status_summary(store)
    finally:
        store.close()
    if summary is None:
        print("empty store: the daemon has not started yet")
        return 0
    if as_json:
        print(json.dumps(summary))
        return 0
    q = summary["quote"]
    b = summary["breaker"]
    breaker = b["state"] + (f" since {iso_utc(b['since_ms'])}: {b['reason']}" if b["state"] != "running" else "")
    if b["pending_commands"]:
        breaker += f" ({b['pending_commands']} operator command(s) waiting for the daemon)"
    lines = [
        f"mode           {summary['mode']}",
        f"breaker        {breaker}",
        f"cash           {float(summary['cash']):,.2f} {q}",
        f"equity         {float(summary['equity']):,.2f} {q}",
        f"pnl            {float(summary['pnl']):,.2f} {q} (realized {float(summary['realized_pnl']):,.2f}, "
        f"unrealized {float(summary['unrealized_pnl']):,.2f}, fees {float(summary['fees_paid']):,.2f})",
    ]
    if summary["market"] == "futures":
        lines.append(f"futures        {summary['leverage']}x isolated, wallet {float(summary['wallet']):,.2f}, "
                     f"margin {float(summary['margin_used']):,.2f}, funding paid {float(summary['funding_paid']):,.2f}")
    for key, ts in summary["last_candle"].items():
        lines.append(f"last candle    {iso_utc(ts)} ({key})")
    lines.append(f"positions      {len(summary['positions'])}")
    for p in summary["positions"]:
        side = f"{p['side']:<5} " if "margin" in p else ""  # futures: long or short
        line = f"  {p['symbol']:<12} {side}qty {p['qty']} @ avg {price_text(p['avg_price'])}"
        if p.get("liquidation_price"):
            line += f", liquidation {price_text(p['liquidation_price'])}, margin {float(p['margin']):,.2f}"
        lines.append(line)
    lines.append(f"open orders    {len(summary['open_orders'])}")
    for o in summary["open_orders"]:
        lines.append(f"  {o['client_order_id']} {o['side']} {o['symbol']} {o['status']}")
    lines.append(f"history        {summary['orders_total']} order(s), {summary['fills_total']} fill(s), "
                 f"{summary['starts']} start(s)")
    print("\n".join(lines))
    return 0
