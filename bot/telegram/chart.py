"""The equity-and-drawdown chart of a backtest, as PNG bytes (matplotlib, Agg backend)."""

from __future__ import annotations

import io

import numpy as np


def equity_drawdown_png(timestamps_ms: np.ndarray, equity: np.ndarray, title: str, quote: str,
                        benchmark: np.ndarray | None = None) -> bytes:
    """Two stacked panels: equity (quote) and drawdown from the running peak (percent, <= 0).

    Args:
        timestamps_ms: candle times, ms UTC (same length as ``equity``).
        equity: equity after each candle, quote currency.
        benchmark: buy-and-hold equity on the same candles (quote), drawn as a grey line.
    """
    import matplotlib  # imported on the first chart: ~30 MB the idle daemon does not carry

    matplotlib.use("Agg")  # headless: no display on a VPS
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = np.asarray(timestamps_ms, dtype="datetime64[ms]")
    eq = np.asarray(equity, dtype=float)
    peak = np.maximum.accumulate(eq)
    drawdown = (eq / peak - 1.0) * 100.0
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, height_ratios=[3, 1])
    try:
        top.plot(times, eq, color="#1f77b4", linewidth=1.0, label="strategy")
        if benchmark is not None:
            top.plot(times, np.asarray(benchmark, dtype=float), color="#7f7f7f", linewidth=0.8, label="buy and hold")
            top.legend(loc="upper left")
        top.set_ylabel(f"equity ({quote})")
        top.set_title(title)
        top.grid(alpha=0.3)
        bottom.fill_between(times, drawdown, 0.0, color="#d62728", alpha=0.4, linewidth=0)
        bottom.set_ylabel("drawdown (%)")
        bottom.grid(alpha=0.3)
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        fig.autofmt_xdate()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)
