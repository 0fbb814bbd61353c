"""The effective settings as the operator sees them (``/config``): every value, secrets masked,
with where it came from: ``cli`` (a flag of ``quantd run``), ``env`` (a ``QUANTD_`` variable),
``file`` (the YAML file) or ``default``."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import SecretStr

from bot.config import Settings

MASK = "********"


def _flat(value, prefix: str, out: dict[str, object]) -> None:
    if isinstance(value, dict) and value and prefix.split(".")[-1] != "params":
        for key, item in value.items():
            _flat(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            _flat(item, f"{prefix}.{i}", out)
    else:
        out[prefix] = value


def _show(value) -> str:
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, (Decimal, Path)):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return "null" if value is None else str(value)


def _covers(paths: set[str], path: str) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:i]) in paths for i in range(1, len(parts) + 1))


def effective_settings(settings: Settings, config_file: str | Path | None = None, overrides: dict | None = None,
                       environ: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """``(key, shown value, source)`` for every setting, in declaration order. A secret shows
    as ``********`` (or empty when unset); a value set by a whole section (a JSON env var,
    a YAML mapping) takes that section's source."""
    values: dict[str, object] = {}
    for name in type(settings).model_fields:
        _flat(getattr(settings, name).model_dump() if hasattr(getattr(settings, name), "model_dump")
              else getattr(settings, name), name, values)
    flags: dict[str, object] = {}
    _flat(overrides or {}, "", flags)
    env = os.environ if environ is None else environ
    from_env = {k[len("QUANTD_"):].lower().replace("__", ".") for k in env if k.upper().startswith("QUANTD_")}
    in_file: dict[str, object] = {}
    if config_file is not None and Path(config_file).is_file():
        _flat(yaml.safe_load(Path(config_file).read_text()) or {}, "", in_file)
    if isinstance(values.get("store.url"), str):  # a PostgreSQL URL may carry a password
        from sqlalchemy.engine import make_url

        values["store.url"] = make_url(values["store.url"]).render_as_string(hide_password=True)
    out = []
    for key, value in values.items():
        source = ("cli" if _covers(set(flags), key) else "env" if _covers(from_env, key)
                  else "file" if _covers(set(in_file), key) else "default")
        out.append((key, _show(value), source))
    return out


def config_text(settings: Settings, section: str | None = None) -> str:
    """``/config [section]``: one ``key = value  (source)`` line per setting, from the
    settings' own record of their file and CLI flags."""
    origin = settings._origin
    rows = [r for r in effective_settings(settings, **origin) if section is None or r[0].split(".")[0] == section]
    if not rows:
        sections = sorted({k.split(".")[0] for k, _, _ in effective_settings(settings, **origin)})
        return f"no section {section!r}; sections: {', '.join(sections)}"
    return "\n".join(f"{key} = {value}  ({source})" for key, value, source in rows)
