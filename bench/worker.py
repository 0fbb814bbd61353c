"""One measurement in a fresh process: ``python -m bench.worker ENGINE DATASET REPS``.

Loads the data and prepares the engine (untimed), runs it ``REPS`` times, and prints one
JSON object: engine, dataset, bars, secs (each run, wall clock), peak_rss_mb (the process's
peak resident memory: interpreter, imports, data and the runs) and the trades of the last
run. A process per measurement keeps one engine's imports and garbage out of another's
memory figure.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def peak_rss_mb() -> float:
    """This process's peak resident memory, MB: ``VmHWM``, which belongs to the address space
    and so starts afresh at exec. (``ru_maxrss`` does not: a worker forked from a parent that
    once held 400 MB reports the parent's peak.) Falls back to ``ru_maxrss`` off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str]) -> int:
    engine, dataset_name, reps = argv[0], argv[1], int(argv[2])
    from bench.engines import ENGINES
    from bench.series import dataset

    df = dataset(dataset_name)
    run = ENGINES[engine](df)
    secs, trades = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        trades = run()
        secs.append(time.perf_counter() - t0)
    peak_mb = peak_rss_mb()
    print(json.dumps({"engine": engine, "dataset": dataset_name, "bars": len(df), "secs": secs,
                      "peak_rss_mb": peak_mb, "trades": trades}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
