"""Logs under a supervisor: JSON lines on stdout with the client order id on order lines, a
rotating file, and no secret anywhere: a live run with keys and a bot token from the vault,
then every artefact (stdout, stderr, log file, store, Telegram messages) is searched for them."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from tests.cli_helpers import clean_env, quantd_cmd
from tests.live_helpers import make_venue
from tests.telegram_helpers import TOKEN

API_KEY = "qk7VAULTKEY0123456789abcdefABCDEF"
SECRET = "qs9VAULTSECRET0123456789abcdefABCDEF"


def test_live_run_logs_json_lines_and_no_secret_reaches_any_artefact(data_dir, tmp_path, tg):
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    for name, content in (("binance.json", {"apiKey": API_KEY, "secret": SECRET}), ("telegram.json", {"token": TOKEN})):
        (vault / name).write_text(json.dumps(content))
        (vault / name).chmod(0o600)
    venue = make_venue(data_dir, row=300, speed=60)
    env = clean_env(QUANTD_MODE="live", QUANTD_EXCHANGE__API_URL=venue.url, QUANTD_EXCHANGE__POLL_SECS="0.1",
                    QUANTD_EXCHANGE__TIMEOUT_MS="1000", QUANTD_EXCHANGE__RECONCILE_SECS="1",
                    QUANTD_STRATEGY__TIMEFRAME="1m", QUANTD_STRATEGY__PARAMS='{"fast": 3, "slow": 8}',
                    QUANTD_STRATEGY__STAKE="200", QUANTD_STORE__URL=f"sqlite:///{tmp_path / 'live.sqlite'}",
                    QUANTD_VAULT__DIR=str(vault), QUANTD_TELEGRAM__API_BASE_URL=tg.url,
                    QUANTD_TELEGRAM__ADMINS="[111]", QUANTD_LOG_FORMAT="json",
                    QUANTD_LOG_FILE=str(tmp_path / "logs/quantd.jsonl"))
    try:
        proc = subprocess.Popen(quantd_cmd() + ["run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [t for t in venue.trades]:
            time.sleep(0.2)
        assert venue.trades, "the daemon traded"
        tg.wait_for(lambda sent: any("FILL" in m.get("text", "") for m in sent), timeout=30)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, (out + err)[-3000:]
    finally:
        venue.stop()

    lines = [json.loads(line) for line in out.splitlines()]  # every stdout line is one JSON object
    assert not err.strip(), err
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    fills = [line for line in lines if line.get("event") == "fill"]
    assert fills and all(line["client_order_id"].startswith("qd-") and line["client_order_id"] in line["msg"]
                         for line in fills)
    file_lines = [json.loads(line) for line in (tmp_path / "logs/quantd.jsonl").read_text().splitlines()]
    assert [line["msg"] for line in file_lines] == [line["msg"] for line in lines], "the file gets the same lines"

    artefacts = {"stdout": out, "stderr": err, "log file": (tmp_path / "logs/quantd.jsonl").read_text(),
                 "telegram": json.dumps(tg.sent)}
    for path in tmp_path.glob("live.sqlite*"):
        artefacts[path.name] = path.read_bytes().decode("latin-1")
    for secret, what in ((API_KEY, "api key"), (SECRET, "api secret"), (TOKEN, "bot token"),
                         (TOKEN.split(":")[1], "bot token's secret half")):
        leaks = [name for name, text in artefacts.items() if secret in text]
        assert not leaks, f"the {what} appears in {leaks}"


def test_a_secret_inside_an_exception_is_redacted_from_message_and_traceback(capsys):
    """Libraries quote URLs and requests in their errors; a logged exception must not carry
    the key out (bot/logs.py redact)."""
    import logging

    from bot import logs

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("INFO", "json")
    logs.redact(API_KEY, "<api key>")
    try:
        raise RuntimeError(f"GET https://api.binance.com/api/v3/account?apiKey={API_KEY} failed")
    except RuntimeError:
        logging.getLogger("quantd.test").exception("request failed for %s", API_KEY)
    finally:
        root.handlers[:] = saved[0]  # give pytest its capture handlers back
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    line = json.loads(err.strip().splitlines()[-1])
    assert API_KEY not in err
    assert line["msg"] == "request failed for <api key>" and "apiKey=<api key> failed" in line["exc"]
