"""The daemon under systemd: the notify protocol seen from a socket the test owns, a hung
engine loop that stops the watchdog pings, and the unit file checked by systemd itself."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.cli_helpers import clean_env, quantd_cmd

REPO = Path(__file__).resolve().parents[1]

HANGING_STRATEGY = textwrap.dedent("""
    import os
    import time

    from engine.strategy.builtin.sma_cross import SmaCross


    class Hang(SmaCross):
        '''sma_cross whose on_candle blocks while the file $HANG_FLAG exists: a strategy bug
        (or a call that never returns) that hangs the engine loop.'''

        def on_candle(self, candle, ctx):
            while os.path.exists(os.environ["HANG_FLAG"]):
                time.sleep(0.05)
            return super().on_candle(candle, ctx)
""")


class NotifyListener:
    """The service manager's end of ``NOTIFY_SOCKET``: a datagram socket that records messages
    with their arrival time (monotonic s)."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, dict[str, str]]] = []

    def drain(self, seconds: float) -> list[dict[str, str]]:
        """Receive for ``seconds``; returns what arrived in that time."""
        got, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.messages.append((time.monotonic(), fields))
            got.append(fields)
        return got

    def wait_for(self, key: str, timeout: float, value: str | None = None) -> dict[str, str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for fields in self.drain(0.1):
                if key in fields and (value is None or value in fields[key]):
                    return fields
        raise AssertionError(f"no {key} message within {timeout}s; got {[m for _, m in self.messages[-5:]]}")

    def close(self) -> None:
        self.sock.close()


def test_ready_watchdog_stalled_loop_and_stopping_over_notify_socket(tmp_path):
    (tmp_path / "userstrats").mkdir()
    (tmp_path / "userstrats" / "hangmod.py").write_text(HANGING_STRATEGY)
    flag = tmp_path / "hang"
    listener = NotifyListener(tmp_path / "notify.sock")
    env = clean_env(NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="300000", HANG_FLAG=str(flag),
                    PYTHONPATH=str(tmp_path / "userstrats"), QUANTD_STRATEGY__NAME="hangmod:Hang",
                    QUANTD_DAEMON__STALL_SECS="1.5", QUANTD_REPLAY__SPEED="20")
    proc = subprocess.Popen(quantd_cmd() + ["run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        ready = listener.wait_for("READY", timeout=60)
        assert ready["READY"] == "1" and "paper BTC/USDT 5m" in ready["STATUS"]
        assert int(ready["MAINPID"]) == proc.pid

        pings = [m for m in listener.drain(1.5) if m.get("WATCHDOG") == "1"]
        assert len(pings) >= 5, "a ping every WatchdogSec/3 (0.1 s) while the loop is healthy"
        assert "candles this run" in pings[-1]["STATUS"]

        code, report = _health(tmp_path, env)
        assert code == 0, [c for c in report["checks"] if not c["ok"]]

        flag.touch()  # the next candle hangs the engine loop
        stalled = listener.wait_for("STATUS", timeout=10, value="stalled")
        assert "no progress" in stalled["STATUS"]
        quiet = listener.drain(1.0)
        assert not [m for m in quiet if "WATCHDOG" in m], "no watchdog ping while the loop is hung"
        code, report = _health(tmp_path, env)
        failed = {c["name"] for c in report["checks"] if not c["ok"]}
        assert code == 1 and {"daemon", "engine loop"} <= failed, report

        flag.unlink()  # the loop makes progress again: pings resume
        listener.wait_for("WATCHDOG", timeout=10)

        proc.send_signal(signal.SIGTERM)
        stopping = listener.wait_for("STOPPING", timeout=10)
        assert stopping["STOPPING"] == "1" and "SIGTERM" in stopping["STATUS"]
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out[-2000:]
        assert "engine loop stalled" in out and "making progress again" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        listener.close()


def _health(cwd: Path, env: dict) -> tuple[int, dict]:
    r = subprocess.run(quantd_cmd() + ["health", "--json"], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=60)
    return r.returncode, json.loads(r.stdout)


def test_sighup_reloads_safe_settings_and_refuses_the_others_by_name(tmp_path):
    config = tmp_path / "quantd.yaml"
    config.write_text("risk: {max_order_notional: 5000}\n")
    proc = subprocess.Popen(quantd_cmd() + ["run", "--speed", "20", "--config", str(config)], cwd=tmp_path,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _read_until(proc, "ready:")
        config.write_text("risk: {max_order_notional: 100}\n")
        proc.send_signal(signal.SIGHUP)
        _read_until(proc, "config reloaded by SIGHUP: risk.max_order_notional: 5000 -> 100")
        config.write_text("risk: {max_order_notional: 100}\nexchange: {id: kraken}\n")
        proc.send_signal(signal.SIGHUP)
        _read_until(proc, "reload refused, nothing changed: exchange.id cannot change while the daemon runs")
        assert proc.poll() is None, "SIGHUP must not kill the daemon"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _read_until(proc: subprocess.Popen, needle: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if needle in line:
            return
        if not line:
            break
    raise AssertionError(f"{needle!r} not logged")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (.ci/run installs it)")
def test_unit_file_passes_systemd_analyze_verify(tmp_path):
    unit = (REPO / "deploy/quantd.service").read_text()
    # verify checks that ExecStart exists: point it at this checkout's console script
    unit = unit.replace("/opt/quantd/venv/bin/quantd", quantd_cmd()[0])
    (tmp_path / "quantd.service").write_text(unit)
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "quantd.service")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    problems = [line for line in (r.stdout + r.stderr).splitlines() if "quantd.service" in line]
    assert not problems, problems


class _Engine:
    """The facts the supervisor reads from an engine; ``status_line`` fails on demand, as a
    read racing the engine thread can."""

    def __init__(self):
        self.heartbeat_s, self.heartbeat_ms, self.last_reconciliation = time.monotonic(), 1, None
        self.fail = False

    def status_line(self) -> str:
        if self.fail:
            raise RuntimeError("dictionary changed size during iteration")
        return "paper BTC/USDT 5m: 3 candles"


def test_supervisor_pings_only_while_the_loop_progresses_and_survives_a_failing_status_read(tmp_path):
    from bot.sdnotify import Notifier
    from bot.supervisor import LoopSupervisor
    from engine.store import open_store
    from engine.store.heartbeat import read_heartbeat

    listener = NotifyListener(tmp_path / "n.sock")
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    engine = _Engine()
    sup = LoopSupervisor(engine, store, Notifier(str(tmp_path / "n.sock"), watchdog_usec=30_000), stall_secs=0.5)
    try:
        sup.ready()
        assert listener.drain(0.2)[0]["READY"] == "1"
        engine.fail = True
        for _ in range(5):
            time.sleep(0.02)
            sup.tick()  # must not raise
        pings = [m for m in listener.drain(0.2) if "WATCHDOG" in m]
        assert pings and pings[-1]["STATUS"] == "paper BTC/USDT 5m: 3 candles", "the last good line"
        engine.heartbeat_s -= 1.0  # no progress for a second: stalled
        sup.tick()
        sup.tick()
        got = listener.drain(0.2)
        assert not [m for m in got if "WATCHDOG" in m] and "stalled" in got[0]["STATUS"]
        assert read_heartbeat(store).state == "stalled"
    finally:
        store.close()
        listener.close()
