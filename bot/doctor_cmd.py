"""``quantd doctor``: check a set-up before trusting it with money. Exit 0, or 1 with a fix per problem.

Checks, in order: the config, the vault's files and permissions, the exchange credentials (live:
one read-only call, the balances), the Telegram token (``getMe``), the heartbeat monitor's push
URL (one request), the state directory, and the
store (schema version, ``PRAGMA integrity_check``). Nothing is traded or changed, except that the
state directory is created if it is missing (as ``quantd run`` would).
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine.errors import QuantdError


@dataclass(frozen=True)
class Finding:
    """One checklist line: ``ok`` or not, what was seen, and how to fix it when not ok."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def diagnose(config_file: str | None, overrides: dict) -> list[Finding]:
    """Every check, in order; a config that does not load is the only finding that stops the rest."""
    from bot.config import load_settings

    try:
        settings = load_settings(config_file, **overrides)
    except QuantdError as exc:
        return [Finding("config", False, str(exc), "correct the named setting in the YAML file or environment")]
    out = [Finding("config", True, f"{config_file or 'defaults'}: mode {settings.mode}, "
                                   f"{len(settings.markets())} market(s)")]
    out += _vault(settings)
    out.append(_exchange(settings))
    out.append(_telegram(settings))
    out.append(_heartbeat(settings))
    state_dir = _state_dir(settings)
    out.append(state_dir)
    if state_dir.ok:
        out.append(_store(settings))
    return out


def _vault(settings) -> list[Finding]:
    vault = Path(settings.vault.dir)
    if not vault.exists():
        ex = settings.exchange
        needed = settings.mode == "live" and not (ex.api_key and ex.secret)  # keys may come from the environment
        return [Finding("vault", not needed, f"{vault} does not exist",
                        f"mkdir -m 700 {vault} and put {settings.exchange.id}.json there (chmod 600)" if needed else "")]
    out = []
    mode = vault.stat().st_mode
    secrets = sorted(vault.glob("*.json"))
    if mode & 0o077 and secrets:  # an open folder matters only once it holds secrets
        out.append(Finding("vault folder", False, f"{vault} is {stat.filemode(mode)}: group or others can list it",
                           f"chmod 700 {vault}"))
    elif mode & 0o077:
        out.append(Finding("vault folder", True, f"{vault} holds no secret file yet ({stat.filemode(mode)}; "
                                                 f"chmod 700 {vault} before you put keys there)"))
    for path in secrets:
        mode = path.stat().st_mode
        if mode & 0o077:
            out.append(Finding(f"vault {path.name}", False, f"{path} is {stat.filemode(mode)}: group or others "
                               "can read the secrets", f"chmod 600 {path}, then rotate the keys if others had access"))
        else:
            out.append(Finding(f"vault {path.name}", True, f"{stat.filemode(mode)}"))
    return out or [Finding("vault", True, f"{vault}: no secret files")]


def _exchange(settings) -> Finding:
    if settings.mode == "paper":
        return Finding("exchange", True, "paper mode: no keys needed")
    if settings.mode == "dry_run":
        from bot.exchange_setup import connect_exchange

        try:
            gateway = connect_exchange(settings, keys=False)
        except QuantdError as exc:
            return Finding("exchange", False, str(exc), "check exchange.id and the network (dry-run reads the "
                           "exchange's public endpoints)")
        try:
            missing = [m.symbol for m in settings.markets() if m.symbol not in gateway.exchange.markets]
        finally:
            gateway.close()
        if missing:
            return Finding("exchange", False, f"{settings.exchange.id} has no market {', '.join(missing)}",
                           "use the exchange's symbol spelling (BASE/QUOTE)")
        return Finding("exchange", True, f"dry-run: {settings.exchange.id} public endpoints reachable, no keys needed")
    from bot.exchange_setup import connect_exchange

    try:
        gateway = connect_exchange(settings)
    except QuantdError as exc:
        return Finding("exchange", False, str(exc), "check the keys in the vault, their permissions on the exchange "
                       "(trading on, withdrawals off, IP allow-list) and the network")
    try:
        balances = gateway.fetch_balances()
    except QuantdError as exc:
        return Finding("exchange", False, f"read-only call failed: {exc}", "check the key's permissions and the "
                       "machine's clock (a skew above 1 s breaks signed requests)")
    finally:
        gateway.close()
    return Finding("exchange", True, f"{settings.exchange.id}: keys accepted, {len(balances)} asset balance(s)")


def _telegram(settings) -> Finding:
    from bot.telegram.service import check_token
    from vault import telegram_token

    try:
        token = telegram_token(settings.vault.dir, settings.telegram.token)
    except QuantdError as exc:
        return Finding("telegram", False, str(exc), "chmod 600 the file and fix its JSON")
    if token is None:
        return Finding("telegram", True, "no token: alerts are only logged")
    try:
        name = check_token(token.get_secret_value(), settings.telegram.api_base_url)
    except QuantdError as exc:
        return Finding("telegram", False, str(exc), "ask BotFather for the token again (/token) and set "
                       "telegram.token or vault/telegram.json")
    if name is None:
        return Finding("telegram", False, f"cannot reach {settings.telegram.api_base_url}",
                       "check the network (the daemon still trades; alerts wait in the outbox)")
    admins = "" if settings.telegram.admins else "; no telegram.admins: nobody may command the bot"
    return Finding("telegram", True, f"token accepted (@{name}){admins}")


def _heartbeat(settings) -> Finding:
    from bot.deadman import HeartbeatPinger

    mon = settings.monitoring
    if mon.heartbeat_url is None:
        return Finding("heartbeat monitor", True, "no monitoring.heartbeat_url: nobody outside this machine notices "
                       "if it dies (set a Healthchecks.io, Uptime Kuma or Better Stack push URL)")
    ok, detail = HeartbeatPinger(mon.heartbeat_url.get_secret_value(), mon.heartbeat_secs,
                                 mon.heartbeat_timeout_secs).ping_once()
    if not ok:
        return Finding("heartbeat monitor", False, f"the push URL did not answer 2xx: {detail}",
                       "copy the push URL again from the monitor (Healthchecks: the ping URL; Uptime Kuma: the "
                       "push monitor's URL) and check that this machine reaches it")
    return Finding("heartbeat monitor", True, f"push URL answered {detail} (one ping sent); the daemon pings it "
                   f"every {mon.heartbeat_secs:g} s while its loop runs")


def _sqlite_path(settings) -> Path | None:
    url = make_url(settings.store.url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _state_dir(settings) -> Finding:
    db = _sqlite_path(settings)
    if db is None:
        return Finding("state directory", True, f"{make_url(settings.store.url).get_backend_name()} store: no "
                                                "local state directory")
    folder = db.parent.resolve() if db.parent != Path("") else Path.cwd()
    fix = f"create {folder} writable by the daemon's user (systemd: StateDirectory=quantd does it)"
    if folder.exists() and not folder.is_dir():
        return Finding("state directory", False, f"{folder} is not writable: it is a file, not a folder", fix)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".quantd-doctor-"):
            pass
    except OSError as exc:
        return Finding("state directory", False, f"{folder} is not writable: {exc.strerror or exc}", fix)
    if not os.access(folder, os.W_OK):
        return Finding("state directory", False, f"{folder} is not writable by uid {os.getuid()}", fix)
    return Finding("state directory", True, f"{folder} writable")


def _store(settings) -> Finding:
    from engine.store import open_store
    from engine.store.base import MetaRow

    db = _sqlite_path(settings)
    if db is not None and not db.exists():
        return Finding("store", True, f"no store yet at {db}: `quantd run` creates it")
    try:
        store = open_store(settings.store.url, create=False)
    except QuantdError as exc:
        return Finding("store", False, str(exc), "restore the newest backup, or upgrade quantd to the version that "
                       "wrote it")
    try:
        with store.read() as s:
            version = s.get(MetaRow, "schema_version")
            integrity = (s.execute(text("PRAGMA integrity_check")).scalar() if db is not None else "ok")
    except Exception as exc:
        return Finding("store", False, f"cannot read: {exc}", "restore the newest copy from backup.dir (see deploy/README.md)")
    finally:
        store.close()
    if integrity != "ok":
        return Finding("store", False, f"integrity_check: {integrity}", "stop the daemon and restore the newest "
                       "backup; keep the damaged file for inspection")
    return Finding("store", True, f"schema version {version.value if version else '?'}, integrity ok")


def print_doctor(config_file: str | None, overrides: dict) -> int:
    """Print the checklist; 0 when every check passed, else 1."""
    findings = diagnose(config_file, overrides)
    for f in findings:
        print(f"[{'ok' if f.ok else 'FAIL'}] {f.name}: {f.detail}")
        if not f.ok and f.fix:
            print(f"       fix: {f.fix}")
    bad = sum(not f.ok for f in findings)
    print("all checks passed" if not bad else f"{bad} problem(s) found")
    return 1 if bad else 0
