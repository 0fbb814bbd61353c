"""The dead-man's switch: the daemon requests ``monitoring.heartbeat_url`` while its engine loop
makes progress and stops when the loop hangs (a local push monitor counts the requests);
``quantd doctor`` checks the URL."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cli_helpers import clean_env, quantd, quantd_cmd
from tests.test_systemd import HANGING_STRATEGY


class PushMonitor:
    """A push monitor on 127.0.0.1 (Healthchecks-style): records the time of each GET of ``/ping/<uuid>``."""

    def __init__(self, status: int = 200):
        self.hits: list[float] = []
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/ping/"):
                    monitor.hits.append(time.monotonic())
                body = b"OK"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ping/0f1e2d3c-secret"

    def count_during(self, secs: float) -> int:
        start = len(self.hits)
        time.sleep(secs)
        return len(self.hits) - start

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def monitor():
    m = PushMonitor()
    yield m
    m.close()


def test_heartbeat_is_requested_while_the_loop_runs_and_stops_when_it_hangs(tmp_path, monitor):
    (tmp_path / "userstrats").mkdir()
    (tmp_path / "userstrats" / "hangmod.py").write_text(HANGING_STRATEGY)
    flag = tmp_path / "hang"
    env = clean_env(HANG_FLAG=str(flag), PYTHONPATH=str(tmp_path / "userstrats"), QUANTD_STRATEGY__NAME="hangmod:Hang",
                    QUANTD_DAEMON__STALL_SECS="1.5", QUANTD_REPLAY__SPEED="20",
                    QUANTD_MONITORING__HEARTBEAT_URL=monitor.url, QUANTD_MONITORING__HEARTBEAT_SECS="0.2")
    proc = subprocess.Popen(quantd_cmd() + ["run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "ready:" in line:
                break
        running = monitor.count_during(2.0)
        assert running >= 5, f"about one request per 0.2 s while the loop runs, got {running} in 2 s"
        flag.touch()  # the next candle hangs the engine loop
        time.sleep(2.5)  # past stall_secs
        hung = monitor.count_during(2.0)
        assert hung == 0, "silence while the loop is hung: the monitor alerts the user"
        flag.unlink()
        deadline = time.monotonic() + 10
        while monitor.count_during(0.5) == 0:
            assert time.monotonic() < deadline, "requests resume when the loop makes progress again"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out[-2000:]
        assert "0f1e2d3c-secret" not in out, "the push URL is a secret: never logged"
        after = monitor.count_during(1.0)
        assert after == 0, "a stopped daemon is silent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_doctor_checks_the_heartbeat_url(tmp_path, monitor):
    r = quantd("doctor", cwd=tmp_path, env=clean_env(QUANTD_MONITORING__HEARTBEAT_URL=monitor.url))
    assert r.returncode == 0, r.stdout
    assert "[ok] heartbeat monitor: push URL answered HTTP 200" in r.stdout and len(monitor.hits) == 1
    missing = PushMonitor(status=404)
    try:
        r = quantd("doctor", cwd=tmp_path, env=clean_env(QUANTD_MONITORING__HEARTBEAT_URL=missing.url))
    finally:
        missing.close()
    assert r.returncode == 1 and "[FAIL] heartbeat monitor" in r.stdout and "HTTP 404" in r.stdout, r.stdout
    r = quantd("doctor", cwd=tmp_path)
    assert "[ok] heartbeat monitor: no monitoring.heartbeat_url" in r.stdout
    r = quantd("doctor", cwd=tmp_path, env=clean_env(QUANTD_MONITORING__HEARTBEAT_URL="ftp://x"))
    assert r.returncode == 1 and "monitoring.heartbeat_url" in r.stdout
