"""Paper trading: real market data in, simulated fills out.

A thin adapter over the engine's :class:`~engine.simulator.SimulatedExchange`, so
paper fills follow exactly the backtest's rules (next candle's open, slippage, fee), plus
the exchange's amount and price steps and minimum notional. The paper venue keeps no state
of its own: on start-up its book is the store's working orders.
"""

from __future__ import annotations

from engine.models import Instrument, Order
from engine.simulator import FillModel, SimulatedExchange


class PaperGateway(SimulatedExchange):
    """:class:`engine.ports.ExchangeGateway` for paper trading on one or more instruments.

    Args:
        instruments: trading rules per symbol (steps and minimum notional).
        model: fee and slippage.
        working_orders: orders from the store; those open or partially filled go back on the book.
    """

    def __init__(self, instruments: list[Instrument], model: FillModel, working_orders: list[Order]):
        super().__init__({i.symbol: i for i in instruments}, model)
        self.restore(working_orders)
