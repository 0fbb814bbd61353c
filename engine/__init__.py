"""quantd's product core: data, strategies, risk, OMS, portfolio, store, backtester.

The core imports neither the bot (Telegram, CLI) nor a concrete gateway (ccxt); it talks
to the outside through the Protocols in :mod:`engine.ports`.
"""

__version__ = "0.1.0"
