"""Running the installed ``quantd`` console script as a new user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def quantd_cmd() -> list[str]:
    """The console script next to this interpreter, else ``python -m bot.cli``."""
    script = Path(sys.executable).parent / "quantd"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any QUANTD_ settings of the developer's shell, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTD_")}
    env.update(extra)
    return env


def quantd(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``quantd ARGS`` to completion and capture its output."""
    return subprocess.run(quantd_cmd() + list(args), cwd=cwd, env=env or clean_env(), capture_output=True,
                          text=True, timeout=timeout)


def short_sample(folder: Path, candles: int, name: str = "BTC_USDT-5m.csv.gz") -> Path:
    """The first ``candles`` real candles of the bundled sample ``name`` (default BTC/USDT 5m)
    as a file in ``folder`` (a shorter replay for tests that only need some history)."""
    import gzip

    from gateways import sample_path

    with gzip.open(sample_path(name), "rt") as src:
        lines = [next(src) for _ in range(candles + 1)]  # header + candles
    path = folder / f"{name.split('.')[0]}-first{candles}.csv.gz"
    with gzip.open(path, "wt") as dst:
        dst.writelines(lines)
    return path


def read_until(proc, needle: str, timeout: float = 60) -> str:
    """A running daemon's output (``stdout=PIPE, text=True``) up to and including the first
    line containing ``needle``; fails the test with the output's tail when it never comes."""
    import time

    seen, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        seen.append(line)
        if needle in line or not line:
            break
    text = "".join(seen)
    assert needle in text, text[-3000:]
    return text
