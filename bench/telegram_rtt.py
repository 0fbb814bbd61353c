"""Telegram command round trip while the engine trades: ``python -m bench.telegram_rtt``.

A paper daemon (bundled real candles, SQLite store) with its python-telegram-bot
application polling the local fake Bot API (:class:`tests.fakes.telegram.FakeTelegram`, on
127.0.0.1), holding a position; a thread keeps replaying candles (``--candles-per-sec``,
default 50: orders, fills and their alerts keep flowing). Then ``--commands`` commands
(``/status``, ``/positions``, ``/pnl`` in turn) are pushed one at a time; the round trip
is from the push (the update is available to ``getUpdates``) to the bot's reply quoting it
reaching the fake API. Prints p50/p99/max in ms as JSON. Needs the shared real data (the
Telegram samples), like the tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def measure(commands: int, candles_per_sec: float) -> dict:
    from bench.series import shared_data
    from tests.fakes.telegram import FakeTelegram
    from tests.telegram_helpers import TOKEN, Desk, command

    api = FakeTelegram(shared_data() / "fixtures", TOKEN)
    url = api.start()
    rtts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="quantd-rtt-") as tmp:
        desk = Desk(Path(tmp), url)
        stop = threading.Event()
        try:
            desk.until_position()
            candles0 = desk.engine.candles_processed
            fills0 = len(desk.engine.oms._seen_trades)

            def trade():
                while not stop.wait(1.0 / candles_per_sec):
                    desk.advance(1)

            trader = threading.Thread(target=trade, daemon=True)
            trader.start()
            words = ["/status", "/positions", "/pnl"]
            for k in range(commands):
                update = command(shared_data(), words[k % len(words)])
                msg_id = update["message"]["message_id"]
                t0 = time.perf_counter()
                api.push(update)
                api.wait_for(lambda sent, m=msg_id: any(
                    s.get("reply_parameters", {}).get("message_id") == m for s in sent), timeout=30)
                rtts.append((time.perf_counter() - t0) * 1000)
            stop.set()
            trader.join()
            candles = desk.engine.candles_processed - candles0
            fills = len(desk.engine.oms._seen_trades) - fills0
        finally:
            stop.set()
            desk.close()
            api.stop()
    a = np.asarray(rtts)
    return {"commands": commands, "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max()), "candles_during": candles, "fills_during": fills}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.telegram_rtt", description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--candles-per-sec", type=float, default=50.0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.commands, args.candles_per_sec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
