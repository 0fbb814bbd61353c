"""``/backtest``: a backtest on the daemon's data in a worker thread, one at a time per chat,
with its progress edited in place, ``/backtest cancel``, and the table, chart and trade list as
the answer (:mod:`bot.telegram.backtest_job` does the work)."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time

from telegram import InputFile, Update

from bot.telegram import backtest_job
from bot.telegram.replies import quiet_edit, retrying
from engine.errors import BacktestCanceled

log = logging.getLogger("quantd.telegram")


class BacktestCommands:
    """Mixin of :class:`bot.telegram.commands.BotCommands`: uses the host's ``reply``,
    ``backtests`` (chat id -> cancel flag) and ``data_dir``."""

    async def cmd_backtest(self, update: Update, args: list[str]) -> None:
        chat_id = update.effective_chat.id
        if args == ["cancel"]:
            flag = self.backtests.get(chat_id)
            if flag is None:
                await self.reply(update, "no backtest running in this chat")
            else:
                flag.set()
            return
        request = backtest_job.parse_request(args)  # a UsageError is the usage reply (the dispatcher's)
        if chat_id in self.backtests:
            await self.reply(update, "a backtest is already running in this chat: wait, or /backtest cancel")
            return
        cancel = threading.Event()
        self.backtests[chat_id] = cancel
        asyncio.get_running_loop().create_task(self._backtest(update, request, cancel))

    async def _backtest(self, update: Update, request, cancel: threading.Event) -> None:
        chat_id = update.effective_chat.id
        loop = asyncio.get_running_loop()
        progress_msg = await self.reply(update, f"backtest {request.describe()}: starting")
        shown = {"pct": -1, "at": 0.0}

        def progress(done: int, total: int) -> bool:  # worker thread
            pct = done * 100 // total
            if pct >= shown["pct"] + 10 and time.monotonic() - shown["at"] >= 1.0:
                shown["pct"], shown["at"] = pct, time.monotonic()
                asyncio.run_coroutine_threadsafe(
                    quiet_edit(progress_msg, f"backtest {request.describe()}: {pct}% (/backtest cancel to stop)"),
                    loop)
            return not cancel.is_set()

        try:
            output = await asyncio.to_thread(backtest_job.run_request, request, self.data_dir, progress)
        except backtest_job.UsageError as exc:
            await quiet_edit(progress_msg, f"backtest {request.describe()}: {exc}")
            return
        except BacktestCanceled as exc:
            await quiet_edit(progress_msg, f"backtest {request.describe()}: {exc}")
            return
        except Exception as exc:
            log.exception("telegram: backtest failed")
            await quiet_edit(progress_msg, f"backtest {request.describe()} failed: {type(exc).__name__}: {exc}")
            return
        finally:
            self.backtests.pop(chat_id, None)
        await quiet_edit(progress_msg, f"backtest {request.describe()}: done, {output.n_trades} trade(s)")
        await self.reply(update, output.table, "Backtest", True)
        message = update.effective_message
        await retrying(lambda: message.reply_photo(InputFile(io.BytesIO(output.png), filename="equity.png"),
                                                    caption=f"{request.describe()}: equity and drawdown",
                                                    do_quote=False))
        name = f"trades-{request.strategy}-{request.symbol.replace('/', '_')}-{request.timeframe}.csv"
        await retrying(lambda: message.reply_document(InputFile(io.BytesIO(output.csv), filename=name),
                                                       caption=f"{output.n_trades} trade(s)", do_quote=False))
