"""The OHLCV data layer on the real Binance files and on real rows with injected defects."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.data import load_ohlcv, read_ohlcv_file
from engine.errors import DataError
from tests.conftest import real_lines


def test_btc_1h_report_matches_the_documented_gaps_and_misaligned_candles(data_dir):
    df, report = load_ohlcv(data_dir / "binance/BTC_USDT-1h.csv.gz")
    assert report.timeframe == "1h"
    assert (report.rows, len(report.gaps), report.missing_candles) == (42824, 27, 127)
    assert len(report.zero_volume_ts) == 3
    # Binance's 2018-02-09..11 hourly candles open at hh:28:14.789 after a 33-candle outage.
    assert len(report.off_grid_ts) == 43
    assert report.off_grid_ts[0] == 1518168494789
    outage = next(g for g in report.gaps if g.next_ms == 1518168494789)
    assert (outage.after_ms, outage.missing) == (pd.Timestamp("2018-02-08T00:00Z").value // 10**6, 33)
    assert df["timestamp"].is_monotonic_increasing and len(df) == report.rows


def test_raw_download_with_duplicates_is_sorted_and_deduplicated(data_dir):
    raw = read_ohlcv_file(data_dir / "binance-edge-cases/BTC_USDT-1m-2019-11_raw_with_duplicates.csv.gz")
    assert len(raw) == 43200
    df, report = load_ohlcv(data_dir / "binance-edge-cases/BTC_USDT-1m-2019-11_raw_with_duplicates.csv.gz")
    # The duplicates are consecutive copies: not strictly increasing, yet not out of order.
    assert (raw["timestamp"].diff() == 0).sum() == 120 and report.unsorted is False
    assert report.duplicates_dropped == 120
    assert report.rows == 43080 == df["timestamp"].nunique()
    assert [(g.missing) for g in report.gaps] == [120]
    assert pd.Timestamp(report.gaps[0].after_ms, unit="ms", tz="UTC") == pd.Timestamp("2019-11-25T01:59Z")


def test_out_of_order_rows_are_sorted_and_reported(data_dir, tmp_path):
    lines = real_lines(data_dir / "binance/BTC_USDT-1h.csv.gz", 20)
    shuffled = [lines[0]] + lines[11:] + lines[1:11]
    df, report = load_ohlcv(_write(tmp_path, shuffled))
    expected, _ = load_ohlcv(_write(tmp_path, lines, "BTC_USDT-1h-sorted.csv"), timeframe="1h")
    assert report.unsorted is True
    pd.testing.assert_frame_equal(df, expected)


def test_zero_volume_candles_are_flagged_and_kept(data_dir):
    df, report = load_ohlcv(data_dir / "binance/BTC_USDT-5m.csv.gz")
    assert len(report.zero_volume_ts) == 28
    assert (df["volume"] == 0).sum() == 28


def test_time_range_filter_keeps_half_open_interval(data_dir):
    start = pd.Timestamp("2021-05-19T00:00Z").value // 10**6
    end = pd.Timestamp("2021-05-20T00:00Z").value // 10**6
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1m.csv.gz", start_ms=start, end_ms=end)
    assert len(df) == 1440 and df["timestamp"].iloc[0] == start and df["timestamp"].iloc[-1] == end - 60_000
    assert df["low"].min() == 30000.0  # the 2021-05-19 crash low documented for this file


def _write(tmp_path, lines, name="BTC_USDT-1h.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_corrupt_value_names_file_line_and_column(data_dir, tmp_path):
    lines = real_lines(data_dir / "binance/BTC_USDT-1h.csv.gz", 50)
    fields = lines[17].split(",")
    fields[4] = "43x1.5"
    lines[17] = ",".join(fields)
    path = _write(tmp_path, lines)
    with pytest.raises(DataError) as err:
        load_ohlcv(path)
    msg = str(err.value)
    assert str(path) in msg and "line 18" in msg and "'close'" in msg and "43x1.5" in msg


def test_empty_value_is_refused_not_dropped(data_dir, tmp_path):
    lines = real_lines(data_dir / "binance/BTC_USDT-1h.csv.gz", 10)
    fields = lines[3].split(",")
    fields[5] = ""
    lines[3] = ",".join(fields)
    with pytest.raises(DataError, match="line 4"):
        load_ohlcv(_write(tmp_path, lines))


def test_conflicting_duplicate_names_the_timestamp_and_both_lines(data_dir, tmp_path):
    lines = real_lines(data_dir / "binance/BTC_USDT-1h.csv.gz", 10)
    fields = lines[5].split(",")
    fields[5] = str(float(fields[5]) + 1)
    lines.append(",".join(fields))
    with pytest.raises(DataError) as err:
        load_ohlcv(_write(tmp_path, lines))
    assert fields[0] in str(err.value) and "lines 6, 12" in str(err.value)


def test_impossible_ohlc_names_the_line(data_dir, tmp_path):
    lines = real_lines(data_dir / "binance/BTC_USDT-1h.csv.gz", 10)
    ts, o, h, l, c, v = lines[7].split(",")
    lines[7] = ",".join([ts, o, str(min(float(o), float(c)) - 1), l, c, v])
    with pytest.raises(DataError, match=r"line 8: impossible candle: high"):
        load_ohlcv(_write(tmp_path, lines))


def test_missing_column_and_missing_file(tmp_path):
    path = _write(tmp_path, ["timestamp,open,high,low,close", "1,1,1,1,1"])
    with pytest.raises(DataError, match="missing column.*volume"):
        load_ohlcv(path)
    with pytest.raises(DataError, match="no such file"):
        load_ohlcv(tmp_path / "absent.csv")


def test_parquet_round_trip_equals_csv(data_dir, tmp_path):
    df, _ = load_ohlcv(data_dir / "binance/ETH_BTC-1h.csv.gz")
    path = tmp_path / "ETH_BTC-1h.parquet"
    df.to_parquet(path)
    again, report = load_ohlcv(path)
    pd.testing.assert_frame_equal(df, again)
    assert report.timeframe == "1h" and report.gaps == []


def test_calendar_month_candles_report_no_false_gaps(data_dir):
    _, report = load_ohlcv(data_dir / "binance-snapshots/2018-04-28/BTC_USDT-1Mo.csv.gz")
    assert report.timeframe == "1M" and report.gaps == [] and report.rows == 9
