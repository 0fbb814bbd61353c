"""Adapters implementing :mod:`engine.ports`: replayed candles, paper fills, (later) ccxt."""

from importlib import resources
from pathlib import Path


def sample_path(name: str = "BTC_USDT-5m.csv.gz") -> Path:
    """Path of a bundled sample OHLCV file (real Binance candles, see samples/README.md)."""
    return Path(str(resources.files("gateways") / "samples" / name))
