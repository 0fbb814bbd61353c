"""Secrets: exchange API keys read from files with strict permissions, or from the environment.

A secret file is ``<vault dir>/<name>.json`` (for an exchange, ``binance.json``) holding
``{"apiKey": "...", "secret": "..."}``. It must be readable by its owner only (``chmod 600``):
a file that group or others can read is refused, because the key can move money. Values are
returned as :class:`pydantic.SecretStr`, whose ``str()`` and ``repr()`` are masked, so a
secret never reaches a log line or a traceback by accident.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from engine.errors import VaultError


@dataclass(frozen=True)
class Credentials:
    """An exchange API key pair (masked when printed)."""

    api_key: SecretStr
    secret: SecretStr
    source: str
    """Where they came from ("vault/binance.json" or "environment"), for logs."""


def read_secret_file(path: Path) -> dict:
    """The JSON object in ``path`` after checking its permissions.

    Raises:
        VaultError: the file is readable or writable by group or others, or not a JSON object.
    """
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise VaultError(f"{path} is accessible by group or others (mode {stat.filemode(mode)}): "
                         f"run `chmod 600 {path}`; quantd refuses to use a key others can read")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise VaultError(f"{path} is not readable JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise VaultError(f"{path} must hold a JSON object like {{\"apiKey\": \"...\", \"secret\": \"...\"}}")
    return data


def exchange_credentials(exchange_id: str, vault_dir: Path, api_key: SecretStr | None = None,
                         secret: SecretStr | None = None) -> Credentials:
    """The API key pair of ``exchange_id``: from ``<vault_dir>/<exchange_id>.json`` when that
    file exists, else from ``api_key``/``secret`` (the ``QUANTD_EXCHANGE__*`` environment).

    Raises:
        VaultError: no credentials anywhere, an incomplete pair, or a loose file.
    """
    path = Path(vault_dir) / f"{exchange_id}.json"
    if path.exists():
        data = read_secret_file(path)
        key, sec = data.get("apiKey"), data.get("secret")
        if not key or not sec:
            raise VaultError(f"{path} needs both \"apiKey\" and \"secret\"")
        return Credentials(SecretStr(str(key)), SecretStr(str(sec)), str(path))
    if api_key is not None and secret is not None:
        return Credentials(api_key, secret, "environment")
    raise VaultError(f"live mode needs {exchange_id} API keys: put them in {path} (chmod 600, see "
                     f"vault/{exchange_id}.json.example) or set QUANTD_EXCHANGE__API_KEY and QUANTD_EXCHANGE__SECRET")


def telegram_token(vault_dir: Path, configured: SecretStr | None = None) -> SecretStr | None:
    """The Telegram bot token: ``configured`` (``QUANTD_TELEGRAM__TOKEN`` or the YAML) when
    set, else ``<vault_dir>/telegram.json`` (``{"token": "..."}``, mode 600) when it exists,
    else None (no bot: alerts are only logged).

    Raises:
        VaultError: a loose file, or one without a token.
    """
    if configured is not None and configured.get_secret_value():
        return configured
    path = Path(vault_dir) / "telegram.json"
    if not path.exists():
        return None
    token = read_secret_file(path).get("token")
    if not token:
        raise VaultError(f"{path} needs \"token\" (from BotFather)")
    return SecretStr(str(token))
