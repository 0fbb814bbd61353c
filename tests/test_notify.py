"""A second alert channel through apprise: a local JSON webhook (``json://127.0.0.1:port``)
receives every alert of its types, once and in order, across an outage and a restart."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cli_helpers import clean_env, quantd, short_sample
from tests.db_helpers import rows


class Webhook:
    """A JSON webhook on 127.0.0.1 recording apprise's posts; ``down`` makes it answer 500."""

    def __init__(self):
        self.posts: list[dict] = []
        self.refused = 0
        self.down = False
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hook.down:
                    hook.refused += 1
                    self.send_response(500)
                else:
                    hook.posts.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook-secret-path"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Webhook()
    yield h
    h.close()


def test_alerts_reach_a_json_webhook_in_order_across_an_outage_and_a_restart(tmp_path, hook):
    channels = [{"url": hook.url, "types": ["fill", "startup", "shutdown"], "name": "webhook"}]
    env = clean_env(QUANTD_REPLAY__DATA=str(short_sample(tmp_path, 600)), QUANTD_NOTIFY__CHANNELS=json.dumps(channels),
                    QUANTD_NOTIFY__MAX_BACKOFF_SECS="1", QUANTD_NOTIFY__DEDUPE_SECS="0")
    db = tmp_path / "var/quantd.sqlite"

    hook.down = True  # the first run's channel is unreachable the whole time
    r = quantd("run", "--speed", "100000", "--exit-when-done", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert hook.refused >= 1 and hook.posts == []
    queued = rows(db, "SELECT kind, text FROM outbox WHERE channel = 'apprise:0' ORDER BY id")
    assert rows(db, "SELECT count(*) FROM outbox WHERE channel = 'apprise:0' AND sent_ms IS NULL") == [(len(queued),)]
    fills = rows(db, "SELECT count(*) FROM fills")[0][0]
    assert fills >= 4 and [k for k, _ in queued].count("fill") == fills
    assert {k for k, _ in queued} == {"fill", "startup", "shutdown"}, "only the channel's types"

    hook.down = False  # back up: the next run delivers the old alerts first, then its own
    r = quantd("run", "--exit-when-done", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    everything = rows(db, "SELECT kind, text FROM outbox WHERE channel = 'apprise:0' ORDER BY id")
    assert len(everything) == len(queued) + 2, "the second run's startup and shutdown"
    got = [(p["title"], p["message"]) for p in hook.posts]
    assert [m for _, m in got] == [text for _, text in everything], "every alert once, in queue order"
    assert got[0][0] == "quantd: Started" and any(t == "quantd: Fill" for t, _ in got)
    assert rows(db, "SELECT count(*) FROM outbox WHERE sent_ms IS NULL AND channel = 'apprise:0'") == [(0,)]
    assert "hook-secret-path" not in r.stdout + r.stderr, "the URL is a secret: never logged"


def test_a_bad_channel_url_or_type_is_refused_before_anything_starts(tmp_path):
    bad = clean_env(QUANTD_NOTIFY__CHANNELS=json.dumps([{"url": "nosuchservice://x"}]))
    r = quantd("run", cwd=tmp_path, env=bad)
    assert r.returncode == 2 and "notify.channels.0.url" in r.stderr and "apprise does not know" in r.stderr
    bad = clean_env(QUANTD_NOTIFY__CHANNELS=json.dumps([{"url": "json://127.0.0.1:9/x", "types": ["fil"]}]))
    r = quantd("run", cwd=tmp_path, env=bad)
    assert r.returncode == 2 and "notify.channels.0.types" in r.stderr and "unknown alert type" in r.stderr
    assert not (tmp_path / "var/quantd.sqlite").exists()
