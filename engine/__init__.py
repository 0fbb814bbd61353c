"""quantd's product core: data, strategies, risk, OMS, portfolio, store, backtester.

The core imports neither the bot (Telegram, CLI) nor a concrete gateway (ccxt); it talks
to the outside through the Protocols in :mod:`engine.ports`.
"""

__version__ = "0.1.0"

import os as _os  # noqa: E402

from engine.compiled_check import REBUILDING_ENV as _REBUILDING_ENV  # noqa: E402
from engine.compiled_check import check_fresh as _check_fresh  # noqa: E402

if _os.environ.get(_REBUILDING_ENV) != "1":  # set by make compiled / make pure only
    _check_fresh()  # a compiled core (make compiled) must match its sources, or nothing runs
