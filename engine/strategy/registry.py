"""Strategy registry: ``@register("name")`` on a class makes it available by name.

A strategy of the user's own is found in one of three ways:

- its module is loaded first (:func:`load_module`: ``strategy.module`` in the config,
  ``--strategy-module`` on the command line; a dotted module name on ``PYTHONPATH`` or a path
  to a ``.py`` file), and its ``@register("name")`` makes ``name`` known;
- an installed package declares an entry point in the group ``quantd.strategies`` (the module
  is imported; an entry point that names a class registers it under the entry point's name);
- it is named ``"package.module:ClassName"`` (importable from ``PYTHONPATH``).

It must subclass :class:`Strategy`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, TypeVar

from engine.errors import StrategyError
from engine.strategy.base import Strategy
from engine.validation import did_you_mean

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
    return strategy_class(name).from_params(dict(params or {}))


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


ENTRY_POINT_GROUP = "quantd.strategies"
_entry_points_loaded = False


def load_module(spec: str) -> None:
    """Import a module of the user's strategies so its ``@register`` decorators run.

    Args:
        spec: a dotted module name (``my_pkg.strategies``) or a path to a ``.py`` file
            (relative to the current directory).

    Raises:
        StrategyError: the file does not exist or the module cannot be imported (its own
            error quoted).
    """
    _load_builtins()
    try:
        if spec.endswith(".py"):
            path = Path(spec).expanduser().resolve()
            if not path.is_file():
                raise StrategyError(f"strategy module {spec!r}: no such file")
            name = f"quantd_user_strategies.{path.stem}"
            if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
                return
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        else:
            importlib.import_module(spec)
    except StrategyError:
        raise
    except Exception as exc:  # a user's module: its SyntaxError, ImportError... in one line
        raise StrategyError(f"strategy module {spec!r} cannot be imported: {type(exc).__name__}: {exc}") from None


def describe_params(cls: type[Strategy]) -> list[dict]:
    """The parameters of strategy class ``cls``: ``{name, type, default, range, description}``
    each (``range`` as a sentence, '' when open)."""
    from engine.validation import bounds, range_sentence

    out = []
    for name, field in cls.Params.model_fields.items():
        low, high, low_inc, high_inc = bounds(cls.Params, name)
        kind = getattr(field.annotation, "__name__", str(field.annotation))
        out.append({"name": name, "type": kind, "default": field.default,
                    "range": "" if low is None and high is None else range_sentence(low, high, low_inc, high_inc)
                    .removeprefix("must be "),
                    "description": field.description or ""})
    return out


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as ``name`` (or ``"module:Class"``).

    Raises:
        StrategyError: unknown name (with the closest known one).
    """
    _load_builtins()
    cls = _import(name) if ":" in name else _REGISTRY.get(name)
    if cls is None:
        raise StrategyError(f"unknown strategy {name!r}{did_you_mean(name, _REGISTRY)}; available: "
                            f"{', '.join(sorted(_REGISTRY))}; your own: load its module first with "
                            "--strategy-module FILE.py (strategy.module in a config)")
    return cls


def _load_builtins() -> None:
    global _entry_points_loaded
    import engine.strategy.builtin  # noqa: F401  (registers on import)

    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must not hide the built-ins
            import logging

            logging.getLogger("quantd.strategy").warning("strategy entry point %s (%s) failed to load: %s",
                                                        ep.name, ep.value, exc)
            continue
        if isinstance(obj, type) and issubclass(obj, Strategy) and obj not in _REGISTRY.values():
            register(ep.name)(obj)
