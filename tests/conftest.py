"""Shared fixtures: the project's real test data lives in ../shared/data beside the repo."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("QUANTD_TEST_DATA", REPO.parent / "shared" / "data"))
PG_URL = os.environ.get("QUANTD_TEST_PG_URL")
"""A PostgreSQL server for the store tests (.ci/run starts one); without it they are skipped."""


@pytest.fixture
def pg_url() -> str:
    """A new, empty PostgreSQL database for one test (dropped after it); its SQLAlchemy URL."""
    if not PG_URL:
        pytest.skip("no PostgreSQL server: .ci/run starts one and sets QUANTD_TEST_PG_URL")
    from uuid import uuid4

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = f"quantd_test_{uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """The store's URL, once for SQLite and once for PostgreSQL (the same tests on both)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 's.sqlite'}"
    return request.getfixturevalue("pg_url")


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


@pytest.fixture
def desk(tmp_path, tg):
    """A paper daemon on the bundled real candles with its Telegram bot on ``tg``, holding a
    position (modules that need another desk define their own)."""
    from tests.telegram_helpers import Desk

    d = Desk(tmp_path, tg.url)
    d.until_position()
    yield d
    d.close()


def pytest_collection_modifyitems(config, items):
    """With the compiled core built (``make compiled``), skip the tests that patch a method on an
    engine object: a compiled class has no per-instance attributes. CI runs the pure-Python
    engine, where they run; ``tests/test_compiled.py`` checks the compiled one gives the same
    results."""
    from engine.compiled import compiled_modules

    if not compiled_modules():
        return
    skip = pytest.mark.skip(reason="patches an engine method: not possible on the compiled core (make pure)")
    for item in items:
        if "pure_only" in item.keywords:
            item.add_marker(skip)
