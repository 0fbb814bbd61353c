"""``quantd data download`` against a fake Binance serving ``/api/v3/klines`` pages cut from
the real BTC/USDT 1h file (startTime and limit honoured), through the real ccxt class."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from bot.cli import main as cli
from engine.data import load_ohlcv
from gateways.download import download
from tests.fakes.binance import FakeBinance
from tests.live_helpers import make_gateway

HOUR = 3_600_000


@pytest.fixture
def hourly(data_dir):
    real = data_dir / "binance" / "BTC_USDT-1h.csv.gz"
    df = pd.read_csv(real)
    venue = FakeBinance(data_dir / "fixtures", {"BTCUSDT": df}, HOUR, int(df.timestamp.iloc[-1]) + HOUR + 5_000,
                        {"USDT": "0"})
    venue.url = venue.start()
    yield real, df, venue
    venue.stop()


def test_download_rebuilds_the_real_file_and_reports_its_real_gaps(hourly, tmp_path, capsys):
    real, df, venue = hourly
    assert cli(["data", "download", "--symbol", "BTC/USDT", "--timeframe", "1h", "--since", "2017-01-01",
                "--dir", str(tmp_path), "--api-url", venue.url]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "BTC_USDT-1h.csv.gz"
    assert gzip.open(path, "rt").read() == gzip.open(real, "rt").read(), "the same file, line for line"
    _, theirs = load_ohlcv(real)
    _, ours = load_ohlcv(path)
    assert [(g.after_ms, g.next_ms, g.missing) for g in ours.gaps] == \
        [(g.after_ms, g.next_ms, g.missing) for g in theirs.gaps] and ours.gaps
    assert f"{len(df):,} candles added in {-(-len(df) // 1000)} page(s)" in out
    assert f"{len(ours.gaps)} gap(s) / {ours.missing_candles} missing" in out
    pages = [p for m, u, p in venue.requests if u == "/api/v3/klines"]
    assert all(int(p["limit"]) == 1000 and "startTime" in p for p in pages)


def test_an_interrupted_download_resumes_without_duplicates(hourly, tmp_path):
    real, df, venue = hourly
    gateway = make_gateway(venue)
    path = tmp_path / "BTC_USDT-1h.csv.gz"
    calls = {"n": 0}
    fetch = gateway.fetch_ohlcv

    def dies_after_three_pages(*args):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return fetch(*args)

    gateway.fetch_ohlcv = dies_after_three_pages
    with pytest.raises(KeyboardInterrupt):
        download(gateway, "BTC/USDT", "1h", path, int(df.timestamp.iloc[0]), checkpoint_pages=1)
    kept = pd.read_csv(path)
    assert len(kept) == 3000 and kept.timestamp.is_unique, "three checkpointed pages, a whole file"
    gateway.fetch_ohlcv = fetch
    result = download(gateway, "BTC/USDT", "1h", path, since_ms=0)  # since is ignored when resuming
    gateway.close()
    assert result.resumed_from == kept.timestamp.iloc[-1] and result.added == len(df) - 3000
    again = pd.read_csv(path)
    assert again.timestamp.is_unique and again.equals(df)


def test_only_closed_candles_and_the_until_bound(hourly, tmp_path):
    real, df, venue = hourly
    venue._clock0 = int(df.timestamp.iloc[-1]) + 1_000  # the last candle is still forming
    gateway = make_gateway(venue)
    path = tmp_path / "x" / "BTC_USDT-1h.csv.gz"
    first, until = int(df.timestamp.iloc[0]), int(df.timestamp.iloc[100])
    part = download(gateway, "BTC/USDT", "1h", path, first, until_ms=until)
    assert part.added == 100 and pd.read_csv(path).timestamp.max() < until
    rest = download(gateway, "BTC/USDT", "1h", path, first)
    gateway.close()
    got = pd.read_csv(path)
    assert len(got) == len(df) - 1 and got.timestamp.iloc[-1] == df.timestamp.iloc[-2], "forming candle left out"
    assert rest.resumed_from == int(df.timestamp.iloc[99])


def test_data_list_and_usage_errors(hourly, tmp_path, capsys, data_dir):
    real, df, venue = hourly
    (tmp_path / "BTC_USDT-1h.csv.gz").write_bytes(real.read_bytes())
    assert cli(["data", "list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "BTC_USDT-1h.csv.gz  BTC/USDT  1h" in out and f"{len(df):,}" in out
    assert cli(["data", "download", "--symbol", "BTC/USDT", "--timeframe", "7x", "--since", "2021-01-01",
                "--dir", str(tmp_path), "--api-url", venue.url]) == 2
    assert cli(["data", "download", "--symbol", "DOGE/USDT", "--timeframe", "1h", "--since", "2021-01-01",
                "--dir", str(tmp_path), "--api-url", venue.url]) == 2
    assert "no such market" in capsys.readouterr().err
    assert cli(["data", "download", "--symbol", "BTC/USDT", "--timeframe", "1h", "--since", "2021-02-01",
                "--until", "2021-01-01", "--dir", str(tmp_path), "--api-url", venue.url]) == 2
    assert "--until must be after --since" in capsys.readouterr().err


def test_futures_download_fetches_the_perpetuals_candles_and_funding_rates_and_resumes(hourly, tmp_path, capsys):
    """``--market futures --funding`` against the fake USD-M endpoint: the perpetual's candles
    under freqtrade's futures name and Binance's real BTCUSDT funding rates (nautilus_trader's
    capture; the candles are the real spot file standing in for the perpetual's, as the fake
    serves them), read back by the backtester's funding reader; a second run adds nothing."""
    from decimal import Decimal

    from engine.futures import FundingRates

    real, df, venue = hourly
    args = ["data", "download", "--market", "futures", "--funding", "--symbol", "BTC/USDT", "--timeframe", "1h",
            "--since", "2019-10-08", "--until", "2019-10-10", "--dir", str(tmp_path), "--api-url", venue.url]
    assert cli(args) == 0
    out = capsys.readouterr().out
    candles = pd.read_csv(tmp_path / "BTC_USDT_USDT-1h-futures.csv.gz")
    assert len(candles) == 48 and candles.timestamp.iloc[0] == 1570492800000
    rates = FundingRates.read_csv(tmp_path / "BTC_USDT_USDT-8h-funding_rate.csv")
    assert rates.times == (1570608000000, 1570636800000) and rates.rates == (Decimal("-0.0375"), Decimal("0.0001"))
    assert "2 funding rates added in 1 page(s)" in out
    assert {u for _, u, _ in venue.requests} <= {"/fapi/v1/exchangeInfo", "/fapi/v1/time", "/fapi/v1/klines",
                                                 "/fapi/v1/fundingRate"}
    assert cli(args) == 0
    out = capsys.readouterr().out
    assert "0 funding rates added" in out and "resumed after 2019-10-09T16:00:00Z" in out
    assert FundingRates.read_csv(tmp_path / "BTC_USDT_USDT-8h-funding_rate.csv") == rates
    assert cli(["data", "download", "--funding", "--symbol", "BTC/USDT", "--timeframe", "1h", "--since",
                "2019-10-08", "--dir", str(tmp_path), "--api-url", venue.url]) == 2
    assert "add --market futures" in capsys.readouterr().err


def test_funding_download_pages_through_the_history(hourly, tmp_path):
    from gateways.download import download_funding

    _, _, venue = hourly
    gateway = make_gateway(venue, market="futures")
    try:
        result = download_funding(gateway, "BTC/USDT", tmp_path / "f.csv", 1570000000000, 1571000000000, page_limit=1)
    finally:
        gateway.close()
    assert (result.added, result.pages) == (2, 3), "one rate a page, then an empty page ends it"
    assert (tmp_path / "f.csv").read_text() == "timestamp,funding_rate\n1570608000000,-0.0375\n1570636800000,0.0001\n"
