"""Progress bars for commands that work for more than a few seconds (tqdm, on stderr).

A bar shows when stderr is a terminal, ``--quiet`` is not given and the work has lasted 2 s (a
quick run prints no bar at all); ``QUANTD_PROGRESS=1`` forces it from the start (logs of a CI
job), ``QUANTD_PROGRESS=0`` turns it off. Standard output is never
touched, so ``--json`` stays one clean object.
"""

from __future__ import annotations

import argparse
import os
import sys

from tqdm import tqdm

DELAY_S = 2.0
"""Seconds of work before a bar appears."""


def add_quiet_argument(p: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress bar and no progress lines on stderr."""
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar on stderr")


def shown(quiet: bool = False) -> bool:
    """Whether a bar is drawn: see the module docstring."""
    forced = os.environ.get("QUANTD_PROGRESS", "")
    if quiet or forced == "0":
        return False
    return forced == "1" or sys.stderr.isatty()


class Bar:
    """A tqdm bar on stderr, usable as a ``progress(done, total)`` callback.

    Args:
        desc: the label left of the bar; unit: what is counted ("candle", "backtest").
        quiet: the command's ``--quiet``.
    """

    def __init__(self, desc: str, unit: str, quiet: bool = False, total: int | None = None):
        tty = sys.stderr.isatty()
        self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not shown(quiet),
                         dynamic_ncols=tty, ncols=None if tty else 110, unit_scale=unit == "candle",
                         leave=not tty, mininterval=0.25,  # in a log (forced bar) the final state stays
                         delay=0 if os.environ.get("QUANTD_PROGRESS") == "1" else DELAY_S)

    def __call__(self, done: int, total: int | None = None) -> bool:
        """Move the bar to ``done`` of ``total``; returns True (a backtest goes on)."""
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)
        return True

    def set_postfix(self, text: str) -> None:
        """Text right of the bar (e.g. the newest candle's time)."""
        self._bar.set_postfix_str(text, refresh=False)

    def write(self, text: str) -> None:
        """A line on stderr above the bar (the bar is redrawn below it)."""
        self._bar.write(text, file=sys.stderr)

    def close(self) -> None:
        """Draw the final state and end the bar (removed from a terminal, kept in a log)."""
        if not self._bar.disable:
            self._bar.refresh()
        self._bar.close()

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
