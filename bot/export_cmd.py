"""``quantd export``: the store's trades, orders and equity as CSV or Parquet files, and
``quantd backup``: a consistent copy of a SQLite store now.

Exported money columns keep the store's exact decimal text (CSV) or are decimal strings
(Parquet), never floats; times are ms since the epoch UTC plus an ISO 8601 column.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import select

from engine.errors import ConfigError
from engine.store import open_store
from engine.store.ledger import EquitySnapshotRow
from engine.store.orders import OrderRow
from engine.store.reports import fill_reports

ORDER_COLUMNS = ("client_order_id", "strategy", "symbol", "side", "type", "status", "signal_ts_ms", "created_ts_ms",
                 "updated_ts_ms", "qty", "quote_qty", "price", "stop_price", "filled_qty", "avg_fill_price", "reason")


def export_tables(url: str, out: Path, fmt: str = "csv") -> dict[str, tuple[Path, int]]:
    """Write ``trades``, ``orders`` and ``equity`` to ``out/<name>.<fmt>``; returns
    ``{name: (path, rows)}``.

    Raises:
        StoreError: no store at ``url``. ConfigError: Parquet without pyarrow.
        OSError: ``out`` cannot be written.
    """
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("Parquet export needs pyarrow: pip install 'quantd[parquet]'") from None
    store = open_store(url, create=False)
    try:
        trades = pd.DataFrame([{"ts_ms": f.ts_ms, "symbol": f.symbol, "side": f.side, "qty": str(f.qty),
                                "price": str(f.price), "fee": str(f.fee), "fee_asset": f.fee_asset,
                                "realized_pnl": str(f.realized), "client_order_id": f.client_order_id}
                               for f in fill_reports(store)],
                              columns=["ts_ms", "symbol", "side", "qty", "price", "fee", "fee_asset", "realized_pnl",
                                       "client_order_id"])
        with store.read() as s:
            orders = pd.DataFrame([{c: _text(getattr(r, c)) for c in ORDER_COLUMNS}
                                   for r in s.scalars(select(OrderRow).order_by(OrderRow.id))], columns=ORDER_COLUMNS)
            equity = pd.DataFrame([{"ts_ms": r.ts_ms, "cash": str(r.cash), "equity": str(r.equity)}
                                   for r in s.scalars(select(EquitySnapshotRow).order_by(EquitySnapshotRow.id))],
                                  columns=["ts_ms", "cash", "equity"])
    finally:
        store.close()
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, df in (("trades", trades), ("orders", orders), ("equity", equity)):
        if "ts_ms" in df:
            df.insert(1, "time_utc", pd.to_datetime(df["ts_ms"], unit="ms", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
        written[name] = (path, len(df))
    return written


def _text(value):
    return None if value is None else (value if isinstance(value, (int, str)) else str(value))
