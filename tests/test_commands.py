"""Typed outcomes (issue 22): operator verbs, event kinds and rule names are enums, and what
the store keeps of them is the plain word."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import engine.risk
from engine import events as ev
from engine.commands import (
    BREAKER_VERBS,
    RECONCILE_VERBS,
    TRADE_VERBS,
    Verb,
    command_text,
    parse_command,
    unknown_command,
)
from engine.risk.base import RiskRule, RuleName
from engine.risk.limits import RiskLimits
from engine.risk.manager import RiskManager
from engine.risk.pairlocks.base import LockRule
from engine.store.journal import queue_command
from tests.db_helpers import rows
from tests.test_protection import _advance, _daemon


@pytest.mark.parametrize("verb", list(Verb))
def test_every_verb_round_trips_through_its_queued_text(verb):
    assert parse_command(command_text(verb, "BTC/USDT 50%")) == (verb, "BTC/USDT 50%")
    assert parse_command(f"  {verb}  ") == (verb, "")
    assert type(parse_command(str(verb))[0]) is Verb


def test_the_verb_groups_partition_what_the_engine_dispatches():
    groups = [BREAKER_VERBS, TRADE_VERBS, RECONCILE_VERBS]
    assert all(not (a & b) for i, a in enumerate(groups) for b in groups[i + 1:])
    rest = set(Verb) - BREAKER_VERBS - TRADE_VERBS - RECONCILE_VERBS
    assert rest == {Verb.FLATTEN, Verb.CANCEL, Verb.UNLOCK, Verb.RELOAD}


@pytest.mark.parametrize("text", ["flaten all", "PAUSE", "", "pause-now"])
def test_a_text_that_is_not_a_verb_is_not_guessed_at(text):
    verb, arg = parse_command(text)
    assert verb is None and arg == text.strip()
    assert unknown_command(text).startswith(f"unknown command {text!r}: use one of pause, resume, kill")


def test_the_breaker_answers_only_its_own_verbs():
    risk = RiskManager(RiskLimits().build(60_000))
    text, events = risk.operator(Verb.FLATTEN, "ops", 0)
    assert text == "unknown command 'flatten': use pause, resume or kill" and events == []
    assert risk.breaker.allows_entries
    text, events = risk.operator("pause", "ops", 0)  # the stored word works as well as the member
    assert text.startswith("paused") and [e.kind for e in events] == [ev.EventKind.BREAKER_CHANGED]


def test_an_unknown_queued_command_is_answered_and_changes_nothing(tmp_path):
    engine, clock, store = _daemon(tmp_path)
    queue_command(store, "flaten all", "ops", 0)
    _advance(engine, clock, 1)
    assert engine.risk.breaker.allows_entries
    queue_command(store, Verb.PAUSE, "ops", 0)  # a member is stored as its word
    _advance(engine, clock, 1)
    assert rows(tmp_path / "q.sqlite", "SELECT command, result FROM operator_commands ORDER BY id") == [
        ("flaten all", unknown_command("flaten all")),
        ("pause", "paused: no new entries, exits still work"),
    ]
    assert not engine.risk.breaker.allows_entries
    assert rows(tmp_path / "q.sqlite", "SELECT DISTINCT typeof(kind) FROM events") == [("text",)]
    kinds = {k for (k,) in rows(tmp_path / "q.sqlite", "SELECT kind FROM events")}
    assert {"startup", "breaker_changed"} <= kinds and kinds <= set(ev.EventKind)
    engine.stop("test")
    store.close()


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_event_type_has_its_own_kind():
    types = {t.__qualname__: t for t in _subclasses(ev.Event) if t.__module__ == "engine.events"}  # slots=True
    kinds = [getattr(ev, name).kind for name in types]  # remakes a class: the module's is the one in use
    assert all(isinstance(k, ev.EventKind) for k in kinds)
    assert len(set(kinds)) == len(kinds) == len(ev.EventKind) - 1  # every kind but the base's is used once


def test_every_rule_is_named_by_a_rule_name():
    for mod in pkgutil.walk_packages(engine.risk.__path__, "engine.risk."):
        importlib.import_module(mod.name)
    rules = list({r.__qualname__: r for r in [*_subclasses(RiskRule), *_subclasses(LockRule)]
                  if r.__module__.startswith("engine.")}.values())
    assert len(rules) >= 17
    names = [r.name for r in rules if "name" in vars(r)]
    assert all(isinstance(n, RuleName) for n in names) and len(set(names)) == len(names)
    own = {RuleName.CIRCUIT_BREAKER, RuleName.PAIR_LOCK, RuleName.SIGNAL_SANITY}
    assert set(names) | own == set(RuleName)
