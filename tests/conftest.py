"""Shared fixtures: the project's real test data lives in ../shared/data beside the repo."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("QUANTD_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared real-data folder; the suite fails loudly (never skips) without it."""
    if not (SHARED_DATA / "binance").is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}; set QUANTD_TEST_DATA to the shared/data folder")
    return SHARED_DATA


@pytest.fixture
def tg(data_dir):
    """A fake Telegram Bot API on 127.0.0.1 (``tg.url`` is the bot's ``base_url``); the test
    fails if any request the bot made did not match the Bot API schema."""
    from tests.fakes.telegram import FakeTelegram
    from tests.telegram_helpers import TOKEN
    api = FakeTelegram(data_dir / "fixtures", TOKEN)
    api.url = api.start()
    yield api
    api.stop()
    assert api.violations == [], "every request must match the Bot API schema"


def real_lines(path: Path, n: int) -> list[str]:
    """The header and the first ``n`` data lines of a real gzip CSV, unchanged."""
    with gzip.open(path, "rt") as fh:
        return [next(fh).rstrip("\n") for _ in range(n + 1)]
