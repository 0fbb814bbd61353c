"""Strategies: the base API, the registry and the built-ins."""

from engine.strategy.base import Strategy, StrategyContext, StrategyParams
from engine.strategy.registry import available, create, describe_params, load_module, register, strategy_class

__all__ = ["Strategy", "StrategyContext", "StrategyParams", "available", "create", "describe_params", "load_module",
           "register", "strategy_class"]
