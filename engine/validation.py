"""One sentence for a person from a pydantic validation error: an unknown key gets the valid keys
and a "did you mean" (difflib), a value out of a range gets both ends of the range.

Used by the config (``bot.config``), strategy parameters (``--param``, ``params:``) and risk
limits (``--risk``, ``risk:``), so a typo reads the same wherever it is made.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

import annotated_types
from pydantic import BaseModel

_BOUNDS = {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    """``" (did you mean 'symbol'?)"`` for the closest of ``choices`` (difflib ratio >= 0.6), else ''."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_key(key: str, valid: typing.Iterable[str]) -> str:
    """``"unknown key 'symbl' (did you mean 'symbol'?); valid keys: a, b, c"``."""
    valid = sorted(valid)
    return f"unknown key {key!r}{did_you_mean(key, valid)}; valid keys: {', '.join(valid)}"


def model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that holds the last key of ``loc`` (list indices and dict keys are
    stepped over), or None when the path leaves the models."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        inner = _model_in(field.annotation)
        if inner is None:
            return None
        model = inner
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def bounds(model: type[BaseModel], name: str) -> tuple[Any, Any, bool, bool]:
    """``(low, high, low_inclusive, high_inclusive)`` declared on ``model.name`` (None when open)."""
    low = high = None
    low_inc = high_inc = True
    field = model.model_fields.get(name)
    for meta in field.metadata if field is not None else []:
        if isinstance(meta, annotated_types.Ge):
            low = meta.ge
        elif isinstance(meta, annotated_types.Gt):
            low, low_inc = meta.gt, False
        elif isinstance(meta, annotated_types.Le):
            high = meta.le
        elif isinstance(meta, annotated_types.Lt):
            high, high_inc = meta.lt, False
    return low, high, low_inc, high_inc


def range_sentence(low: Any, high: Any, low_inc: bool = True, high_inc: bool = True) -> str:
    """``"must be from 2 to 200"``, ``"must be above 0 and at most 100"``, ``"must be at least 1"``."""
    if low is not None and high is not None:
        if low_inc and high_inc:
            return f"must be from {low} to {high}"
        return f"must be {'at least' if low_inc else 'above'} {low} and {'at most' if high_inc else 'below'} {high}"
    if low is not None:
        return f"must be {'at least' if low_inc else 'above'} {low}"
    return f"must be {'at most' if high_inc else 'below'} {high}"


def explain(root: type[BaseModel], err: dict) -> str:
    """The problem of one pydantic error ``err`` (from ``ValidationError.errors()``) against
    ``root``: valid keys and a suggestion for an unknown key, both ends for a range, else
    pydantic's own message."""
    loc = tuple(err.get("loc", ()))
    model = model_at(root, loc) if loc else None
    if err["type"] == "extra_forbidden" and model is not None:
        return unknown_key(str(loc[-1]), model.model_fields)
    if err["type"] in _BOUNDS and model is not None and isinstance(loc[-1], str):
        low, high, low_inc, high_inc = bounds(model, loc[-1])
        if low is not None or high is not None:
            return range_sentence(low, high, low_inc, high_inc)
    return err["msg"].removeprefix("Value error, ")
