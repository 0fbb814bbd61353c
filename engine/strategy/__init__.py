"""Strategies: the base API, the registry and the built-ins."""

from engine.strategy.base import Strategy, StrategyContext, StrategyParams
from engine.strategy.registry import available, create, register

__all__ = ["Strategy", "StrategyContext", "StrategyParams", "available", "create", "register"]
