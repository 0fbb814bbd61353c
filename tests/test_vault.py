"""The vault: key files must be private; secrets are masked wherever they are printed."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from engine.errors import VaultError
from vault import exchange_credentials


def _key_file(tmp_path, mode: int):
    path = tmp_path / "binance.json"
    path.write_text(json.dumps({"apiKey": "k-123456", "secret": "s-abcdef"}))
    path.chmod(mode)
    return path


def test_a_private_key_file_is_read_and_masked(tmp_path):
    _key_file(tmp_path, 0o600)
    creds = exchange_credentials("binance", tmp_path)
    assert creds.secret.get_secret_value() == "s-abcdef"
    assert "s-abcdef" not in repr(creds) and "k-123456" not in str(creds)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path, mode):
    _key_file(tmp_path, mode)
    with pytest.raises(VaultError, match="chmod 600"):
        exchange_credentials("binance", tmp_path)


def test_environment_keys_are_used_without_a_file_and_missing_keys_are_explained(tmp_path):
    creds = exchange_credentials("binance", tmp_path, SecretStr("env-k"), SecretStr("env-s"))
    assert creds.source == "environment"
    with pytest.raises(VaultError, match="QUANTD_EXCHANGE__API_KEY"):
        exchange_credentials("binance", tmp_path)
