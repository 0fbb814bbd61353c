"""Whether a compiled core (:mod:`engine.compiled`) still matches its sources; checked when
the engine is imported, so a stale one never runs (ADR 0015)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MODULES = (
    "engine.money",
    "engine.marks",
    "engine.portfolio",
    "engine.oms",
    "engine.simulator",
    "engine.risk.manager",
    "engine.exit_levels",
    "engine.runner",
    "engine.backtest.trades",
)
"""What the compiled core compiles: the modules a backtest's candles and orders pass through
(the strategies and their indicators stay interpreted, so user strategies, subclasses and
their errors for bad parameters are unchanged)."""

GROUP = "engine._native"
"""The shared library's module (``engine/_native__mypyc*.so``)."""

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path(__file__).resolve().parent / "_native.json"
REBUILDING_ENV = "QUANTD_CORE_REBUILD"
"""Set to 1 by ``make compiled`` and ``make pure``, which replace a stale core: the import-time
check is skipped for them only."""


class StaleCompiledCore(RuntimeError):
    """A compiled module's source changed after the build: the extension would run old code."""


def _source(root: Path, module: str) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_fresh(root: Path = PACKAGE_ROOT) -> None:
    """Refuse a compiled core whose sources changed since its build.

    Raises:
        StaleCompiledCore: a compiled module's ``.py`` differs from the one it was built from
            (or compiled files exist without the build's record).
    """
    manifest = root / "engine" / MANIFEST.name
    if not manifest.exists():
        if any((root / "engine").glob(GROUP.rsplit(".", 1)[1] + "__mypyc*")):
            raise StaleCompiledCore("compiled engine modules without engine/_native.json: run `make compiled` "
                                    "to rebuild them or `make pure` to remove them")
        return
    built = json.loads(manifest.read_text())
    changed = [m for m, digest in built.items() if not _source(root, m).exists() or _digest(_source(root, m)) != digest]
    if changed:
        raise StaleCompiledCore(f"the compiled core is older than its sources ({', '.join(changed)} changed): run "
                                "`make compiled` to rebuild it or `make pure` to run the Python code")
