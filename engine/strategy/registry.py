"""Strategy registry: ``@register("name")`` on a class makes it available by name.

A strategy of the user's own is named ``"package.module:ClassName"`` (importable from the
daemon's ``PYTHONPATH``); it must subclass :class:`Strategy`.
"""

from __future__ import annotations

import importlib
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

    Args:
        name: a registered name (``sma_cross``) or ``"package.module:ClassName"``.

    Raises:
        StrategyError: unknown name (listing the known ones), a module or class that cannot
            be imported, or invalid parameters.
    """
    _load_builtins()
    cls = _import(name) if ":" in name else _REGISTRY.get(name)
    if cls is None:
        raise StrategyError(f"unknown strategy {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return cls.from_params(dict(params or {}))


def _import(path: str) -> type[Strategy]:
    module_name, _, class_name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise StrategyError(f"strategy {path!r}: cannot import module {module_name!r} ({exc}); "
                            "is its folder on PYTHONPATH?") from None
    except AttributeError:
        raise StrategyError(f"strategy {path!r}: module {module_name!r} has no {class_name!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyError(f"strategy {path!r} is not a subclass of engine.strategy.Strategy")
    if "name" not in vars(cls):  # not registered: named after its class, not a base it extends
        cls.name = class_name
    return cls


def _load_builtins() -> None:
    import engine.strategy.builtin  # noqa: F401  (registers on import)
