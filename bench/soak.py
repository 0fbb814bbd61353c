"""The long chaos campaign for manual runs: ``python -m bench.soak --hours 1 --seed 7``.

Runs :func:`tests.chaos.campaign.run_campaign` with longer rounds until the time is up, then
prints the figures (simulated days, orders, faults by kind, kills, violations) and writes
``result.json`` in ``--out``. Exit 0 when no invariant broke, 1 otherwise. Needs the shared
real data (``../shared/data`` or ``QUANTD_TEST_DATA``), like the tests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.series import shared_data
from tests.chaos.campaign import CampaignConfig, run_campaign

DATA_SPAN_MS = 42_000 * 60_000
"""About the real 1m files' length after the start row (29 days)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=0.5, help="wall-clock length of the campaign")
    parser.add_argument("--seed", type=int, default=7, help="seed of every random choice (faults, kills, rounds)")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of requests that get a fault")
    parser.add_argument("--round-secs", type=float, nargs=2, default=(30.0, 90.0), help="chaos run length range")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a new temporary one)")
    args = parser.parse_args(argv)
    wall_ms = args.hours * 3_600_000
    speed = min(1200.0, DATA_SPAN_MS / wall_ms)  # never run past the end of the real candles
    out = args.out or Path(tempfile.mkdtemp(prefix="quantd-soak-"))
    if out.is_dir() and any(out.iterdir()):
        # a store left by another campaign would meet a fresh fake venue: every order "absent"
        parser.error(f"--out {out} is not empty; give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    cfg = CampaignConfig(seed=args.seed, rounds=10_000, round_secs=tuple(args.round_secs), speed=speed,
                         fault_rate=args.fault_rate, deadline_s=time.monotonic() + args.hours * 3600)
    result = run_campaign(cfg, shared_data(), out)
    print(result.summary())
    grown = [r for r in result.rounds_resources if r[0] >= 30]
    if grown:
        print(f"resources over {len(grown)} runs of 30 s or more: RSS {min(r[1] for r in grown)}..."
              f"{max(r[2] for r in grown)} kB, open fds {min(r[3] for r in grown)}..{max(r[4] for r in grown)}")
    for n, v in result.violations:
        print(f"round {n}: {v}")
    print(f"work folder: {out}")
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
