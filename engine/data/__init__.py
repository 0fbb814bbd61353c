"""OHLCV data: loading (CSV, CSV.gz, Parquet), validation and cleaning with a report;
higher timeframes (:func:`resample`, :class:`CandleResampler`) and candles from trades
(:class:`CandleAggregator`)."""

from engine.data.aggregator import CandleAggregator, TradeCandles
from engine.data.ohlcv import COLUMNS, load_ohlcv, read_ohlcv_file
from engine.data.resample import CandleResampler, resample
from engine.data.validate import DataReport, Gap, clean_ohlcv

__all__ = ["COLUMNS", "CandleAggregator", "CandleResampler", "DataReport", "Gap", "TradeCandles", "clean_ohlcv",
           "load_ohlcv", "read_ohlcv_file", "resample"]
