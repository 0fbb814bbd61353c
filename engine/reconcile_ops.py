"""An operator's reconciliation from the phone (``/reconcile`` and its buttons), applied by the
engine between candles like every operator command:

* ``reconcile``: a reconciliation now that reports every current finding (external orders
  and balance drifts already reported included);
* ``adopt <exchange order id>``: take over an external open order the account covers;
* ``rebaseline``: accept the current balance drift as not the daemon's (a deposit, a
  withdrawal, a trade by hand): the baseline moves by it, and a breaker halted by a balance
  drift resumes; ``keep`` leaves everything as it is (the breaker stays halted).
"""

from __future__ import annotations

from engine.commands import Verb


def reconcile_command(engine, verb: Verb, arg: str, by: str, now_ms: int) -> tuple[str, list]:
    """Apply one reconciliation command on ``engine``; returns (what happened in words, events)."""
    rec = engine.reconciler
    if rec is None:
        return f"{engine.mode} mode: nothing is on an exchange, so there is nothing to reconcile", []
    if verb is Verb.RECONCILE:
        engine.reconcile(everything=True)
        report = rec.last_report
        state = "complete" if report.complete else "incomplete: the exchange did not answer everything"
        return f"reconciliation {state}: {len(report.issues)} finding(s), {report.orders_checked} order(s) checked", []
    if verb is Verb.ADOPT:
        if not arg.strip():
            return "not adopted: name the exchange order id", []
        text = rec.adopt_one(arg.strip(), now_ms)
        return text, engine.oms.take_events()
    if verb is Verb.KEEP:
        return "kept: nothing changed" + (f"; the breaker stays {engine.risk.breaker.state.value}"
                                          if not engine.risk.breaker.allows_entries else ""), []
    shifts, text = rec.rebaseline(now_ms)
    if not shifts:
        return text, []
    engine.journal.baseline_shifted(shifts, now_ms)
    breaker = engine.risk.breaker
    if not breaker.allows_entries and breaker.reason.startswith("balance drift"):
        said, events = engine.risk.operator(Verb.RESUME, by, now_ms)
        engine.journal.risk_recorded(events, breaker)
        return f"{text}; {said}", events
    return text, []
