"""The daemon as a process: start-up to ready, idle memory and CPU.

``python -m bench.daemon [--idle-secs 30]`` starts ``quantd run`` (paper, bundled real
candles, a fresh SQLite store) the way systemd does: with ``NOTIFY_SOCKET`` pointing at a
datagram socket of this process. Measured:

* **start-up to ready**: from the spawn to the ``READY=1`` datagram, which the daemon sends
  after start-up reconciliation and warm-up (see :mod:`bot.sdnotify`);
* **idle RSS**: the daemon's resident memory (``VmRSS``) after ``--idle-secs`` of waiting for
  the next candle (replay at 0.02 candles/s: one candle every 50 s, as a 1m live feed);
* **idle CPU**: user + system CPU seconds (``/proc/PID/stat``) over that idle window,
  as a percentage of one core.

Prints one JSON object; exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(idle_secs: float, extra_env: dict | None = None) -> dict:
    """Start the daemon, wait for READY=1, idle, measure, stop it with SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="quantd-daemon-bench-") as tmp:
        sock_path = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(60)
        env = {**os.environ, "NOTIFY_SOCKET": sock_path, "QUANTD_STORE__URL": f"sqlite:///{tmp}/bench.sqlite",
               **(extra_env or {})}
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--speed", "0.02"], cwd=tmp, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            ready = None
            while ready is None:
                msg = sock.recv(4096).decode()
                if "READY=1" in msg.split("\n"):
                    ready = time.perf_counter() - t0
            rss_ready = rss_mb(proc.pid)
            time.sleep(2.0)  # the first candle and the bot's start settle
            c0, w0 = cpu_seconds(proc.pid), time.perf_counter()
            time.sleep(idle_secs)
            cpu = (cpu_seconds(proc.pid) - c0) / (time.perf_counter() - w0) * 100
            rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            sock.close()
    return {"startup_to_ready_s": ready, "rss_at_ready_mb": rss_ready, "idle_rss_mb": rss, "idle_cpu_pct": cpu,
            "idle_secs": idle_secs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.daemon", description=__doc__.splitlines()[0])
    parser.add_argument("--idle-secs", type=float, default=30.0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.idle_secs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
