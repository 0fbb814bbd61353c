"""OHLCV data: loading (CSV, CSV.gz, Parquet), validation and cleaning with a report."""

from engine.data.aggregator import CandleAggregator, TradeCandles
from engine.data.ohlcv import COLUMNS, load_ohlcv, read_ohlcv_file
from engine.data.validate import DataReport, Gap, clean_ohlcv

__all__ = ["COLUMNS", "CandleAggregator", "TradeCandles", "DataReport", "Gap", "clean_ohlcv", "load_ohlcv", "read_ohlcv_file"]
