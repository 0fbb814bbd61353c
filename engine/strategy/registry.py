"""Strategy registry: ``@register("name")`` on a class makes it available by name."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from engine.errors import StrategyError
from engine.strategy.base import Strategy

_REGISTRY: dict[str, type[Strategy]] = {}
S = TypeVar("S", bound=type[Strategy])


def register(name: str) -> Callable[[S], S]:
    """Class decorator: register a :class:`Strategy` subclass under ``name``.

    Raises:
        StrategyError: the name is taken by another class.
    """

    def deco(cls: S) -> S:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise StrategyError(f"strategy name {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available() -> list[str]:
    """Registered strategy names, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def create(name: str, params: dict[str, Any] | None = None) -> Strategy:
    """Instantiate a registered strategy with validated parameters.

    Raises:
        StrategyError: unknown name (listing the known ones) or invalid parameters.
    """
    _load_builtins()
    cls = _REGISTRY.get(name)
    if cls is None:
        raise StrategyError(f"unknown strategy {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return cls.from_params(dict(params or {}))


def _load_builtins() -> None:
    import engine.strategy.builtin  # noqa: F401  (registers on import)
