"""Results as text that fits one phone screen (about 40 characters a line), shared by the
bot's ``/stats``, ``/performance``, ``/profit``, ``/weekly``, ``/monthly`` and the CLI's
``quantd report``. Money in the account's quote currency; times in UTC."""

from __future__ import annotations

from decimal import Decimal

from engine.store.base import Store
from engine.store.results import Breakdown, breakdown, month_label, period_pnl, round_trips
from engine.store.state import status_summary
from engine.timeframes import iso_utc

REPORTS = ("stats", "performance", "profit", "weekly", "monthly")
"""What ``quantd report`` and the bot's result commands can show."""


def _hours(secs: float) -> str:
    return f"{secs / 3600:.1f}h" if secs < 86_400 * 2 else f"{secs / 86_400:.1f}d"


def _table(groups: list[Breakdown], label: str) -> list[str]:
    if not groups:
        return [f"{label}: no closed trade yet"]
    lines = [f"{label:<16} {'n':>4} {'win':>4} {'mean':>8} {'total':>9} {'hold':>6}"]
    for g in groups:
        lines.append(f"{g.key[:16]:<16} {g.trades:>4} {g.win_rate * 100:>3.0f}% {float(g.mean_pnl):>+8.2f} "
                     f"{float(g.total_pnl):>+9.2f} {_hours(g.mean_holding_secs):>6}")
    return lines


def stats_text(store: Store) -> str:
    """Closed round trips by exit reason and by entry signal (and by side, once a short
    closed): trades, win rate, mean and total net PnL, mean holding time."""
    trips = round_trips(store)
    sides = _table(breakdown(trips, "side"), "side") + [""] if any(t.short for t in trips) else []
    return "\n".join(sides + _table(breakdown(trips, "exit_reason"), "exit reason") + [""]
                     + _table(breakdown(trips, "entry_signal"), "entry signal")) + f"\n({_quote(store)})"


def performance_text(store: Store) -> str:
    """Closed round trips per symbol."""
    return "\n".join(_table(breakdown(round_trips(store), "symbol"), "symbol")) + f"\n({_quote(store)})"


def profit_text(store: Store) -> str:
    """Closed and open: realised vs unrealised PnL, fees, best and worst trade, ROI."""
    summary = status_summary(store)
    if summary is None:
        return "no state yet"
    trips = round_trips(store)
    closed = [t for t in trips if not t.is_open]
    q = summary["quote"]
    initial, equity = Decimal(summary["initial_cash"]), Decimal(summary["equity"])
    lines = [f"closed trades   {len(closed)}  (open {len(trips) - len(closed)})",
             f"realised pnl    {float(sum((t.pnl for t in closed), Decimal(0))):+,.2f} {q} (net of fees"
             f"{', funding' if summary['market'] == 'futures' else ''})",
             f"unrealised pnl  {float(Decimal(summary['unrealized_pnl'])):+,.2f} {q}",
             f"fees paid       {float(sum((t.fees for t in trips), Decimal(0))):,.2f} {q}",
             f"equity          {float(equity):,.2f} {q} (start {float(initial):,.2f})",
             f"roi             {float((equity / initial - 1) * 100) if initial else 0.0:+.2f}%"]
    if closed:
        best, worst = max(closed, key=lambda t: t.pnl), min(closed, key=lambda t: t.pnl)
        wins = sum(t.pnl > 0 for t in closed)
        lines += [f"win rate        {wins / len(closed) * 100:.0f}% ({wins}/{len(closed)})",
                  f"best trade      {float(best.pnl):+,.2f} {best.symbol} {iso_utc(best.exit_ts_ms)[:16]}",
                  f"worst trade     {float(worst.pnl):+,.2f} {worst.symbol} {iso_utc(worst.exit_ts_ms)[:16]}"]
    return "\n".join(lines)


def period_text(store: Store, period: str, n: int) -> str:
    """Equity and its change per week (from Monday 00:00 UTC) or calendar month, the last ``n``."""
    rows = period_pnl(store, period, n)
    if not rows:
        return "no equity snapshot yet"
    label = "week of" if period == "week" else "month"
    lines = [f"{label:<14} {'equity':>12} {'change':>10}"]
    for r in rows:
        name = iso_utc(r.start_ms)[:10] if period == "week" else month_label(r.start_ms)
        lines.append(f"{name:<14} {r.equity:>12,.2f} {r.change:>+10,.2f}")
    return "\n".join(lines) + f"\n({_quote(store)})"


def report_text(store: Store, what: str, n: int = 8) -> str:
    """The text of one of :data:`REPORTS` (``n``: periods for weekly and monthly).

    Raises:
        ValueError: an unknown report.
    """
    if what == "stats":
        return stats_text(store)
    if what == "performance":
        return performance_text(store)
    if what == "profit":
        return profit_text(store)
    if what in ("weekly", "monthly"):
        return period_text(store, what[:-2] if what == "weekly" else "month", n)
    raise ValueError(f"unknown report {what!r}: one of {', '.join(REPORTS)}")


def _quote(store: Store) -> str:
    summary = status_summary(store)
    return summary["quote"] if summary else "quote"
