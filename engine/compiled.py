"""The optional compiled core: the hot modules of a backtest built with mypyc (ADR 0015).

The engine is pure Python and is tested as such; ``make run`` never compiles anything. A user
who wants faster backtests builds the modules of :data:`MODULES` with mypyc (it ships with
mypy and needs a C compiler)::

    make compiled                 # python -m engine.compiled build
    make pure                     # python -m engine.compiled clean: back to pure Python
    python -m engine.compiled status

The build runs on a copy of the ``engine`` package (so the project's own build settings are not
involved) and puts one extension module per compiled module next to its ``.py``, plus the
shared library ``engine/_native__mypyc``; Python then imports the extension in place of the
source. The same code runs either way: ``tests/test_compiled.py`` builds the core and checks
that its backtests give the trades of the pure-Python one, to the bit.

A compiled module does not see later edits of its ``.py``. The build records the hash of each
source in ``engine/_native.json``, and :func:`check_fresh` (called when the engine is
imported) refuses to run a compiled core whose sources have changed since.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from engine.compiled_check import (
    GROUP,
    MANIFEST,
    MODULES,
    PACKAGE_ROOT,
    StaleCompiledCore,
    _digest,
    _source,
    check_fresh,
)

__all__ = ["GROUP", "MODULES", "StaleCompiledCore", "build", "check_fresh", "clean", "compiled_modules", "copy_sources"]


def extensions(root: Path = PACKAGE_ROOT) -> list[Path]:
    """The compiled files under ``root/engine`` (one per compiled module, and the shared library)."""
    suffixes = (".so", ".pyd")
    return sorted(p for p in (root / "engine").rglob("*") if p.suffix in suffixes)


def copy_sources(into: Path, root: Path = PACKAGE_ROOT) -> Path:
    """Copy the ``engine`` package of ``root`` to ``into/engine`` as sources only (no caches, no
    compiled files, no build record); returns ``into``, ready for :func:`build` or to run the
    pure engine from."""
    import shutil

    shutil.copytree(root / "engine", into / "engine",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", MANIFEST.name))
    return into


def build(root: Path = PACKAGE_ROOT, verbose: bool = False) -> list[Path]:
    """Compile :data:`MODULES` of ``root/engine`` with mypyc and install the extensions there.

    Returns the files installed. Raises:
        RuntimeError: mypyc is not installed, or the build failed (its output's tail included).
    """
    try:
        import mypyc  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("the compiled core needs mypyc, which comes with mypy: pip install 'mypy>=1.10' "
                           "(make compiled does it)") from exc
    clean(root)
    with tempfile.TemporaryDirectory(prefix="quantd-native-") as tmp:
        work = copy_sources(Path(tmp), root)
        paths = [str(_source(Path("."), m)) for m in MODULES] + ["--ignore-missing-imports", "--follow-imports=silent"]
        script = ("from setuptools import setup\nfrom mypyc.build import mypycify\n"
                  f"setup(name='quantd-native', ext_modules=mypycify({paths!r}, opt_level='3', group_name={GROUP!r}),"
                  " script_args=['build_ext', '--inplace'])\n")
        proc = subprocess.run([sys.executable, "-c", script], cwd=work, capture_output=True, text=True)
        if verbose or proc.returncode != 0:
            print(proc.stdout[-4000:], proc.stderr[-4000:], file=sys.stderr)
        if proc.returncode != 0:
            raise RuntimeError(f"mypyc build failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
        installed = []
        for ext in extensions(work):
            target = root / ext.relative_to(work)
            shutil.copy2(ext, target)
            installed.append(target)
    (root / "engine" / MANIFEST.name).write_text(json.dumps(
        {m: _digest(_source(root, m)) for m in MODULES}, indent=1, sort_keys=True) + "\n")
    return installed


def clean(root: Path = PACKAGE_ROOT) -> list[Path]:
    """Remove the compiled core from ``root/engine`` (back to pure Python); returns what was removed."""
    removed = extensions(root)
    for path in removed:
        path.unlink()
    manifest = root / "engine" / MANIFEST.name
    if manifest.exists():
        manifest.unlink()
        removed.append(manifest)
    return removed


def compiled_modules() -> list[str]:
    """The modules of :data:`MODULES` this interpreter loaded from an extension (imports them)."""
    import importlib

    return [m for m in MODULES if not str(getattr(importlib.import_module(m), "__file__", "")).endswith(".py")]


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.compiled build|clean|status``."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "status"
    if command == "build":
        try:
            files = build(verbose="-v" in args)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"compiled {len(MODULES)} modules ({len(files)} files under engine/); `make pure` removes them")
    elif command == "clean":
        print(f"removed {len(clean())} compiled files: the engine runs as pure Python")
    elif command == "status":
        check_fresh()
        done = compiled_modules()
        print(f"compiled: {len(done)} of {len(MODULES)} modules" + (f" ({', '.join(done)})" if done else
                                                                     " (pure Python)"))
    else:
        print("usage: python -m engine.compiled build|clean|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
