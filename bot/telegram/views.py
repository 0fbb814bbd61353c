"""Plain-text replies of the read-only commands, built from the store and the daemon's
snapshots. Pure functions: no Telegram here (the handlers escape and send)."""

from __future__ import annotations

from decimal import Decimal

from engine.store.reports import DayPnl, FillReport
from engine.timeframes import iso_utc


def _money(value, quote: str = "") -> str:
    return f"{float(value):,.2f}" + (f" {quote}" if quote else "")


def price_text(value) -> str:
    """A price for people: two decimals from 1,000 up (``19,200.14``), else six significant
    digits (``1.0745``, ``0.719933``), so a sub-dollar market keeps its ticks."""
    x = float(value)
    return f"{x:,.2f}" if abs(x) >= 1000 else f"{x:.6g}"


def status_text(summary: dict, uptime_secs: float | None) -> str:
    """/status: mode, breaker, uptime, last candle per market, open positions, pnl."""
    q = summary["quote"]
    b = summary["breaker"]
    lines = [f"mode      {summary['mode']}",
             f"breaker   {b['state']}" + (f" since {iso_utc(b['since_ms'])}: {b['reason']}" if b["state"] != "running"
                                          else "")]
    if uptime_secs is not None:
        lines.append(f"uptime    {_duration(uptime_secs)}")
    lines.append(f"equity    {_money(summary['equity'], q)} (pnl {_money(summary['pnl'])})")
    for key, ts in sorted(summary["last_candle"].items()):
        strategy, symbol, tf = key.split("|")
        lines.append(f"candle    {symbol} {tf} {iso_utc(ts)} ({strategy})")
    if summary.get("market") == "futures":
        lines.append(f"futures   {summary['leverage']}x isolated, wallet {_money(summary['wallet'], q)}, "
                     f"margin {_money(summary['margin_used'])}, funding paid {_money(summary['funding_paid'])}")
    lines.append(f"positions {len(summary['positions'])}, open orders {len(summary['open_orders'])}")
    for p in summary["positions"]:
        side = f"{p['side']} " if "margin" in p else ""  # futures: long or short
        lines.append(f"  {p['symbol']} {side}{abs(Decimal(p['qty'])).normalize():f} @ {price_text(p['avg_price'])}"
                     + _liquidation(p))
    return "\n".join(lines)


def _liquidation(p: dict) -> str:
    """`` liq 1,234.56`` for a futures position with a liquidation price, else nothing."""
    return f" liq {price_text(p['liquidation_price'])}" if p.get("liquidation_price") else ""


def positions_text(summary: dict, marks: dict[str, float]) -> str:
    """/positions: each open position with its value and unrealized PnL at the last close."""
    if not summary["positions"]:
        return "no open position"
    q = summary["quote"]
    lines = []
    for p in summary["positions"]:
        qty, avg = Decimal(p["qty"]), Decimal(p["avg_price"])
        mark = marks.get(p["symbol"])
        side = f"{p['side']} " if "margin" in p else ""  # futures: long or short
        line = f"{p['symbol']}  {side}qty {abs(qty).normalize():f}  avg {price_text(avg)}"
        if "margin" in p:  # futures
            line += (f"\n  margin {_money(p['margin'], q)}  funding {_money(p['funding'])}"
                     + (f"  liquidation {price_text(p['liquidation_price'])}" if p["liquidation_price"] else ""))
        if mark is not None:
            value = float(qty) * mark
            upnl = (mark - float(avg)) * float(qty)
            line += f"\n  last {price_text(mark)}  value {_money(value, q)}  unrealized {upnl:+,.2f} {q}"
        lines.append(line)
    return "\n".join(lines)


def orders_text(summary: dict) -> str:
    """/orders: working orders with their client order ids (for /cancel)."""
    if not summary["open_orders"]:
        return "no working order"
    return "\n".join(f"{o['client_order_id']}  {o['side']} {o['symbol']}  "
                     f"{('qty ' + o['qty']) if o['qty'] else ('cost ' + o['quote_qty'])}  {o['status']}"
                     for o in summary["open_orders"])


def balance_text(summary: dict) -> str:
    """/balance: cash, positions at cost, equity, fees (quote)."""
    q = summary["quote"]
    return "\n".join([
        f"cash      {_money(summary['cash'], q)}",
        f"equity    {_money(summary['equity'], q)}",
        f"start     {_money(summary['initial_cash'], q)}",
        f"fees paid {_money(summary['fees_paid'], q)}",
    ] + [f"{p['symbol'].split('/')[0]:<9} {Decimal(p['qty']).normalize():f}" for p in summary["positions"]])


def pnl_text(summary: dict, window: tuple[float, float, int, int] | None, days: float,
             fills: list[FillReport]) -> str:
    """/pnl [days]: equity change over the window and the PnL its sells realized."""
    q = summary["quote"]
    lines = [f"total     {_money(summary['pnl'], q)} since start (realized {_money(summary['realized_pnl'])}, "
             f"unrealized {_money(summary['unrealized_pnl'])}, fees {_money(summary['fees_paid'])})"]
    if window is None:
        lines.append("no equity snapshot yet")
        return "\n".join(lines)
    start_eq, end_eq, start_ms, end_ms = window
    in_window = [f for f in fills if start_ms <= f.ts_ms <= end_ms]
    realized = sum((f.realized for f in in_window), Decimal(0))
    pct = (end_eq / start_eq - 1) * 100 if start_eq else 0.0
    lines += [f"last {days:g} day(s): {end_eq - start_eq:+,.2f} {q} ({pct:+.2f}%)",
              f"  {iso_utc(start_ms)} -> {iso_utc(end_ms)}",
              f"  {len(in_window)} fill(s), realized by sells {float(realized):+,.2f} {q}"]
    return "\n".join(lines)


def daily_text(days: list[DayPnl], quote: str) -> str:
    """/daily [n]: one line per UTC day."""
    if not days:
        return "no equity snapshot yet"
    rows = [f"{'day':<10} {'equity':>12} {'change':>10} fills"]
    rows += [f"{iso_utc(d.day_ms)[:10]:<10} {d.equity:>12,.2f} {d.change:>+10,.2f} {d.fills:>5}" for d in days]
    return "\n".join(rows) + f"\n({quote})"


def trades_text(fills: list[FillReport], n: int) -> str:
    """/trades [n]: the last ``n`` fills, newest first, with what exits realized (a long's
    sells, a short's buys)."""
    if not fills:
        return "no fill yet"
    lines = []
    for f in reversed(fills[-n:]):
        line = (f"{iso_utc(f.ts_ms)} {f.side} {f.qty.normalize():f} {f.symbol} @ {price_text(f.price)} "
                f"fee {f.fee.normalize():f} {f.fee_asset}")
        if f.closes:
            line += f" pnl {float(f.realized):+,.2f}"
        lines.append(line)
    return "\n".join(lines)


def risk_text(snapshot: dict, quote: str) -> str:
    """/risk: limits, utilisation, breaker."""
    b = snapshot["breaker"]
    lines = [f"breaker   {b['state']}" + (f": {b['reason']}" if b["reason"] else ""),
             f"equity    {snapshot['equity']:,.2f} {quote} (peak {snapshot['peak_equity']:,.2f}, "
             f"drawdown {snapshot['drawdown_pct']:.2f}%)",
             f"exposure  {snapshot['gross_exposure']:,.2f} {quote} in {snapshot['open_positions']} position(s)",
             f"losses in a row {snapshot['consecutive_losses']}",
             "limits:"] + [f"  {r}" for r in snapshot["rules"]]
    for symbol, p in snapshot["protections"].items():
        lines.append(f"protection {symbol}: stop {p['stop']}, take-profit {p['take_profit']}")
    return "\n".join(lines)


def health_text(health: dict) -> str:
    """/health: process, data freshness, reconciliation, exchange latency, alert queue."""
    lines = [f"process   up {_duration(health['uptime_secs'])}, last engine step {health['step_age_secs']:.0f}s ago"]
    for market in health["markets"]:
        lines.append(f"data      {market['symbol']} {market['timeframe']}: last candle closed {market['candle']}"
                     + (" STALE" if market["stale"] else ""))
    lines.append(f"reconcile {health['reconciliation']}")
    lines.append(f"exchange  {health['exchange']}")
    lines.append(f"alerts    {health['queue_depth']} queued" + (f"; last error: {health['telegram_error']}"
                                                                 if health["telegram_error"] else ""))
    return "\n".join(lines)


def _duration(secs: float) -> str:
    secs = int(secs)
    d, rem = divmod(secs, 86_400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return (f"{d}d " if d else "") + f"{h:02d}:{m:02d}:{s:02d}"
