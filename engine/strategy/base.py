"""The strategy API shared by the backtester, paper and live trading.

A strategy sees one closed candle at a time, in time order, and answers with a
:class:`~engine.models.Signal` or ``None``. It never sees a candle before it closes, never
sees the future, and reaches the market only through the engine (sizing, risk, OMS), which
decides what a signal means given the current position: BUY enters a long position when
flat, SELL leaves it when long. A first SELL while flat is ignored. A signal repeated while it
has no effect (BUY again while long, SELL again while flat) and anything that is not a
signal are refused by the ``signal_sanity`` risk rule: nothing is traded, and a backtest
counts one rejection per streak (``rejected by signal_sanity`` in its summary).

Register a strategy with ``@register("name")`` in a module of your own, then load that module
with ``strategy.module`` in the config or ``--strategy-module`` on the command line (a dotted
module or a ``.py`` file) and name it: ``quantd backtest --strategy-module my_strats.py
--strategy name``. ``examples/my_strategy.py`` is a complete one.

Parameters are a pydantic model per strategy (``Params``), so the CLI, the config and the
bot validate them the same way. Write a strategy like this::

    @register("my_strategy")
    class MyStrategy(Strategy):
        class Params(StrategyParams):
            period: int = Field(20, ge=1)

        def on_candle(self, candle, ctx):
            ...

A strategy that also wants a higher timeframe builds it from its own closed candles with
:class:`engine.data.CandleResampler`, which hands out a higher candle only once it has
closed (the same in backtest, paper and live)::

    def __init__(self, params):
        super().__init__(params)
        self.hourly = CandleResampler("5m", "1h")

    def on_candle(self, candle, ctx):
        for hour in self.hourly.update(candle):
            ...  # a complete 1h candle, closed at this 5m candle's close or earlier
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.errors import StrategyError
from engine.models import Candle, Signal
from engine.validation import explain

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


class StrategyParams(BaseModel):
    """Base of every strategy's parameter model: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(slots=True)
class StrategyContext:
    """What a strategy may know besides the candle: the account's position in its symbol,
    nothing of the future.

    Attributes:
        symbol: e.g. "BTC/USDT"; timeframe: e.g. "1h".
        position_qty: base currency the account holds in ``symbol`` (0 when flat): the
            portfolio's position, which a manual order or a flatten also changes; one
            strategy trades a symbol (the config refuses two on one symbol).
        has_open_order: an order of this strategy is still working.
    """

    symbol: str
    timeframe: str
    position_qty: float = 0.0
    has_open_order: bool = False


class Strategy:
    """Base class. Subclasses define ``Params`` and ``on_candle``; ``warmup`` tells how
    many closed candles the strategy needs before it can emit a signal."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    search_space: ClassVar[dict[str, list]] = {}
    """A default grid for ``quantd sweep`` and ``quantd walkforward`` when no ``--grid`` is
    given: ``{parameter: [values...]}`` inside the ranges ``Params`` declares."""

    def __init__(self, params: StrategyParams):
        self.params = params

    @classmethod
    def from_params(cls, raw: dict[str, Any]) -> "Strategy":
        """Build from raw values (strings from the CLI are coerced).

        Raises:
            StrategyError: one line naming the strategy, the parameter and the problem.
        """
        try:
            params = cls.Params(**raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err["loc"]) or "params"
            value = f" (got {err['input']!r})" if field != "params" and "input" in err else ""
            msg = explain(cls.Params, err)
            if field == "params":
                raise StrategyError(f"{cls.name}: {msg}") from None
            if err["type"] == "extra_forbidden":
                raise StrategyError(f"{cls.name}: {msg}") from None
            raise StrategyError(f"{cls.name}: parameter {field}: {msg}{value}") from None
        return cls(params)

    @property
    def warmup(self) -> int:
        """Closed candles needed before the first possible signal."""
        return 0

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        """Called once per closed candle, in time order; return a signal or None."""
        raise NotImplementedError

    def signals(self, df: "pd.DataFrame") -> "np.ndarray":
        """Optional vectorised form of :meth:`on_candle` for ``quantd backtest --vectorized``.

        Args:
            df: all candles (columns timestamp, open, high, low, close, volume; sorted).

        Returns:
            int8 array of ``len(df)``: +1 where ``on_candle`` would return BUY at that
            candle's close, -1 for SELL, 0 for None; it must agree with ``on_candle`` on every
            candle (``tests/test_vectorized.py`` checks the built-ins on real data).

        Raises:
            NotImplementedError: the strategy has no vectorised form (the default).
        """
        raise NotImplementedError(f"{self.name} has no vectorised signals")

    @property
    def allows_short(self) -> bool:
        """True when the parameters enable shorts (``allow_short``): only a futures account
        can trade such a strategy (spot would refuse every short entry and keep the long)."""
        return bool(self.params.model_dump().get("allow_short", False))

    def describe(self) -> str:
        """``name(k=v, ...)`` for logs and reports (kept per parameter object: they are frozen)."""
        cached = getattr(self, "_described", None)
        if cached is not None and cached[0] is self.params:
            return cached[1]
        args = ", ".join(f"{k}={v}" for k, v in self.params.model_dump().items()
                         if not (k == "allow_short" and v is False))  # long-only names read as they always did
        text = f"{self.name}({args})"
        self._described = (self.params, text)
        return text
