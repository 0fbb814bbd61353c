"""What the idle paper daemon carries: ccxt, matplotlib and Alembic stay out of its memory.

bench/daemon.py measures the resident memory (RESULTS.md); these tests keep the imports
that made it 280 MB from creeping back: ccxt (~70 MB) is for live mode, matplotlib (~30 MB)
for the first chart, Alembic (~11 MB) for a store that needs migrating.
"""

from __future__ import annotations

import subprocess
import sys

from engine.store import open_store
from tests.conftest import REPO

HEAVY = ("ccxt", "matplotlib", "alembic")


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(' '.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_a_paper_daemon_on_a_current_store_imports_neither_ccxt_nor_matplotlib_nor_alembic(tmp_path):
    db = tmp_path / "q.sqlite"
    open_store(f"sqlite:///{db}").close()  # created (and stamped) here, not in the probe
    loaded = _loaded_after(f"""
import bot.cli, bot.app
from bot.app import build_engine
from bot.config import load_settings
settings = load_settings(store={{"url": "sqlite:///{db}"}})
engine, store = build_engine(settings)
engine.step()
store.close()
""")
    assert loaded == set(), f"the idle paper daemon imported {loaded}"


def test_live_mode_and_charts_still_import_what_they_need():
    assert _loaded_after("from bot.exchange_setup import connect_exchange\nimport gateways.ccxt_market") == {"ccxt"}
    loaded = _loaded_after("""
import numpy as np
from bot.telegram.chart import equity_drawdown_png
png = equity_drawdown_png(np.array([0, 60000, 120000]), np.array([1.0, 1.1, 0.9]), "t", "USDT")
assert png[:4] == b"\\x89PNG"
""")
    assert loaded == {"matplotlib"}
