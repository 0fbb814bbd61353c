"""Paper trading a perpetual in the daemon (``market: futures``, ADR 0017), on the bundled real
Binance XRP/USDT:USDT candles and funding rates: the daemon makes the backtest's fills, keeps
its futures ledger (wallet, margin, cost basis, funding, liquidation price) in the store
across crashes, shows it to the operator, and refuses what it cannot do."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from bot.app import build_engine
from bot.backtest_cmd import config_markets
from bot.config import load_settings
from bot.telegram.views import positions_text, status_text, trades_text
from engine.backtest.engine import BacktestConfig
from engine.backtest.portfolio import run_portfolio_backtest
from engine.backtest.trades import END_OF_DATA
from engine.errors import ConfigError
from engine.events import LiquidationWarning
from engine.futures import FuturesAccount
from engine.store import load_state, open_store
from engine.store.reports import fill_reports
from engine.store.results import round_trips
from engine.store.state import status_summary
from tests.cli_helpers import clean_env, quantd, quantd_cmd, read_until
from tests.daemon_helpers import replay_in_process
from tests.db_helpers import rows, untag

EXAMPLE = Path(__file__).parents[1] / "deploy/examples/futures-paper.yaml"
FIXTURES = Path(__file__).parent / "fixtures/futures"


def _settings(tmp_path: Path, **overrides):
    return load_settings(EXAMPLE, store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"}, **overrides)


def _fills_of(trades) -> list[tuple]:
    """(side, fill time ms, price, qty) of every fill a trade list implies, end-of-data exits
    left out: a long enters with a buy, a short with a sell."""
    out = []
    for t in trades:
        enter, leave = ("sell", "buy") if t.short else ("buy", "sell")
        out.append((enter, t.entry_ts_ms, t.entry_price, t.qty))
        if t.exit_reason != END_OF_DATA:
            out.append((leave, t.exit_ts_ms, t.exit_price, t.qty))
    return sorted(out)


def test_the_paper_futures_daemon_makes_the_backtests_fills_funding_and_fees(tmp_path):
    """deploy/examples/futures-paper.yaml: sma_cross long and short at 3x on the whole real
    XRP perpetual file with its real funding rates and Binance's tiers. The daemon (in process)
    and ``quantd backtest --config`` share runner, OMS, risk, simulator and futures account, so
    every fill is the same, and so are the funding and the fees (the backtest adds only its
    end-of-data exit)."""
    settings = _settings(tmp_path)
    assert replay_in_process(settings) == 1999
    db = tmp_path / "q.sqlite"
    daemon = sorted((side, ts, Decimal(price), Decimal(qty))
                    for side, ts, price, qty in rows(db, "select side, ts_ms, price, qty from fills"))

    f, p = settings.futures, settings.paper
    result = run_portfolio_backtest(config_markets(settings)[0], BacktestConfig(
        cash=p.cash, fee_rate=p.fee, slippage_bps=p.slippage_bps, limits=settings.risk, market="futures",
        leverage=f.leverage, maintenance_rate=f.maintenance_rate, tiers=settings.leverage_tiers()))
    assert len(daemon) > 150 and sum(t.short for t in result.trades) >= 40
    assert _fills_of(result.trades) == daemon

    store = open_store(settings.store.url)
    try:
        account = load_state(store).portfolio
        summary = status_summary(store)
    finally:
        store.close()
    assert isinstance(account, FuturesAccount) and account.leverage == 3
    assert account.funding_paid == sum((t.funding for t in result.trades), Decimal(0)) != 0
    last = result.trades[-1]
    assert last.exit_reason == END_OF_DATA
    assert account.fees_paid == sum((t.entry_fee + t.exit_fee for t in result.trades), Decimal(0)) - last.exit_fee
    funding_events = rows(db, "select payload from events where kind = 'funding'")
    assert len(funding_events) >= 10, "one event per funding time with a position open"
    assert sum(Decimal(json.loads(e[0])["amount"]) for e in funding_events) == account.funding_paid
    # the stored ledger: wallet = start + realized - fees - funding; cash = wallet - margin
    assert account.wallet == p.cash + account.realized_pnl - account.fees_paid - account.funding_paid
    assert account.cash == account.wallet - sum(account.margin.values(), Decimal(0))
    assert summary["market"] == "futures" and summary["leverage"] == "3"
    (pos,) = summary["positions"]
    assert pos["side"] == ("short" if last.short else "long")
    account.tiers = settings.leverage_tiers()  # the store keeps the ledger; the tiers come from the settings
    assert Decimal(pos["liquidation_price"]) == account.liquidation_price("XRP/USDT")

    # the reports' round trips (/stats, /profit, quantd report) are the backtest's trades, both sides
    store = open_store(settings.store.url)
    try:
        trips = round_trips(store)
    finally:
        store.close()
    closed = [t for t in trips if not t.is_open]
    trades = [t for t in result.trades if t.exit_reason != END_OF_DATA]
    assert [(t.short, t.entry_ts_ms, t.exit_ts_ms) for t in closed] == \
        [(t.short, t.entry_ts_ms, t.exit_ts_ms) for t in trades]
    assert all(abs(a.pnl - b.pnl) < Decimal("1e-12") for a, b in zip(closed, trades)), "net of fees and funding"
    assert sum(t.funding != 0 for t in closed) >= 5
    assert [t.short for t in trips if t.is_open] == [last.short]
    assert {t.entry_signal for t in closed} == {"sma_cross"} and {t.exit_reason for t in closed} == {"exit_signal"}


def _ledger(db: Path) -> tuple:
    fills = untag(rows(db, "select trade_id, client_order_id, side, qty, price, fee, ts_ms from fills order by ts_ms, id"))
    orders = untag(rows(db, "select client_order_id, side, status, signal_ts_ms, qty, quote_qty from orders order by id"))
    account = rows(db, "select cash, fees_paid, wallet, funding_paid, leverage from accounts")
    positions = rows(db, "select symbol, qty, avg_price, realized_pnl, margin, cost, funding, liquidation_price "
                         "from positions")
    funding = rows(db, "select ts_ms, payload from events where kind = 'funding' order by ts_ms")
    return fills, orders, account, positions, funding


def _start(cwd: Path, config: Path) -> subprocess.Popen:
    return subprocess.Popen(quantd_cmd() + ["run", "--config", str(config), "--speed", "400"], cwd=cwd,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_killed_paper_futures_runs_end_exactly_where_an_uninterrupted_run_ends(tmp_path):
    """SIGKILLs while shorts and longs are open and funding is being charged, then a clean
    stop: the restarted daemons end with the same fills, orders, wallet, margins, cost bases,
    funding and liquidation prices, to the last digit, as one run straight through."""
    straight = tmp_path / "straight"
    straight.mkdir()
    r = quantd("run", "--config", str(EXAMPLE), "--speed", "100000", "--exit-when-done", cwd=straight)
    assert r.returncode == 0, r.stderr[-2000:]
    expected = _ledger(straight / "var/futures-paper.sqlite")
    assert len(expected[0]) > 150 and len(expected[4]) >= 10

    bumpy = tmp_path / "bumpy"
    bumpy.mkdir()
    for sig, fills_seen in ((signal.SIGKILL, 9), (signal.SIGTERM, 7), (signal.SIGKILL, 30)):
        proc = _start(bumpy, EXAMPLE)
        for _ in range(fills_seen):
            read_until(proc, "FILL", timeout=60)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
        if sig != signal.SIGKILL:
            assert proc.returncode == 0 and f"received {sig.name}" in out, out[-1500:]
    r = quantd("run", "--config", str(EXAMPLE), "--speed", "100000", "--exit-when-done", cwd=bumpy)
    assert r.returncode == 0, r.stderr[-2000:]
    got = _ledger(bumpy / "var/futures-paper.sqlite")
    assert got[1] == expected[1], "same orders, same client order ids, same statuses"
    assert got[0] == expected[0], "same fills, none lost, none twice"
    assert got[4] == expected[4], "same funding payments, none twice"
    assert got[2] == expected[2] and got[3] == expected[3], "same wallet, margin, cost basis, funding and liquidation"


class _Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs."""


def test_a_crash_right_after_a_funding_payment_does_not_charge_it_again(tmp_path):
    """The funding of a candle commits before its candle cursor does. A daemon killed between
    the two re-reads that candle on restart; it must not pay the funding twice."""
    straight = _settings(tmp_path / "a")
    replay_in_process(straight)
    expected = _ledger(tmp_path / "a/q.sqlite")

    settings = _settings(tmp_path / "b")
    engine, store = build_engine(settings)
    journal = engine.lanes[0].runner.journal
    real = journal.funding_applied

    def funding_then_kill(*args):
        real(*args)
        raise _Killed

    journal.funding_applied = funding_then_kill
    now = [0.0]
    engine.lanes[0].market.feed._clock = lambda: now[0]
    try:
        engine.step()
        now[0] = 1e6
        with pytest.raises(_Killed):
            for _ in range(3):
                engine.step()
    finally:
        store.close()
    db = tmp_path / "b/q.sqlite"
    assert len(rows(db, "select id from events where kind = 'funding'")) == 1
    (killed_at,) = rows(db, "select last_ts_ms from candle_cursors")[0]
    funding_ts = json.loads(rows(db, "select payload from events where kind = 'funding'")[0][0])["through_ms"]
    assert killed_at < funding_ts - 300_000, "the cursor is behind the candle whose funding was booked"

    assert replay_in_process(settings) > 0  # restart: resumes before that candle
    assert _ledger(db) == expected


def test_a_restart_with_a_short_open_keeps_its_stop_above_the_entry(tmp_path):
    """A daemon stopped while a short with a 2% stop-loss is open: the stored protection is a
    short's (stop above the entry, reached by a high), so the restarted daemon ends where one
    run straight through ends; read as a long's, the stop would fire on the first candle."""
    risk = {"min_liquidation_distance_pct": 10, "stop_loss_pct": 2}
    straight = _settings(tmp_path / "a", risk=risk)
    replay_in_process(straight)
    expected = _ledger(tmp_path / "a/q.sqlite")

    settings = _settings(tmp_path / "b", risk=risk, replay={"speed": 1})
    engine, store = build_engine(settings)
    now = [0.0]
    engine.lanes[0].market.feed._clock = lambda: now[0]
    try:
        engine.step()
        for _ in range(1999):
            now[0] += 1
            engine.step()
            if engine.oms.portfolio.position("XRP/USDT").qty < 0 and not engine.oms.open_orders():
                break
    finally:
        store.close()  # stopped here, a short open
    store = open_store(settings.store.url)
    try:
        state = load_state(store)
    finally:
        store.close()
    pos, prot = state.portfolio.position("XRP/USDT"), state.protections["XRP/USDT"]
    assert pos.qty < 0 and prot.short and prot.stop_price > pos.avg_price
    assert replay_in_process(settings) > 0
    assert _ledger(tmp_path / "b/q.sqlite") == expected


def test_status_and_telegram_views_show_side_leverage_margin_and_liquidation(tmp_path):
    settings = _settings(tmp_path)
    replay_in_process(settings)
    env = clean_env(QUANTD_STORE__URL=settings.store.url)
    stats = quantd("report", "stats", "--config", str(EXAMPLE), cwd=tmp_path, env=env).stdout
    assert "side" in stats and "\nlong " in stats and "\nshort " in stats, stats
    profit = quantd("report", "profit", "--config", str(EXAMPLE), cwd=tmp_path, env=env).stdout
    assert "(net of fees, funding)" in profit, profit
    for line in stats.splitlines() + profit.splitlines():
        assert len(line) <= 52, f"one phone screen wide: {line!r}"
    r = quantd("export", "--config", str(EXAMPLE), "--out", str(tmp_path / "exp"), cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    store = open_store(settings.store.url)
    try:
        reports, state = fill_reports(store), load_state(store)
    finally:
        store.close()
    closing = [f for f in reports if f.closes]
    assert len(reports) == len(state.fills) and len(closing) == len(reports) // 2, "every exit realizes, no entry"
    assert not any(f.realized for f in reports if not f.closes)
    exit_fees = sum((f.fee for f in closing), Decimal(0))
    assert sum((f.realized for f in closing), Decimal(0)) == state.portfolio.realized_pnl - exit_fees
    short_exit = next(f for f in reversed(closing) if f.side == "buy")
    assert f"buy {short_exit.qty.normalize():f} XRP/USDT" in trades_text(reports, len(reports)) and \
        f"pnl {float(short_exit.realized):+,.2f}" in trades_text([short_exit], 1), "a short's buy-back shows its pnl"
    r = quantd("status", "--config", str(EXAMPLE), cwd=tmp_path, env=clean_env(QUANTD_STORE__URL=settings.store.url))
    assert r.returncode == 0, r.stderr
    assert "futures        3x isolated, wallet " in r.stdout
    store = open_store(settings.store.url)
    try:
        summary = status_summary(store)
    finally:
        store.close()
    (pos,) = summary["positions"]
    assert f"XRP/USDT     {pos['side']:<5} qty {pos['qty']}" in r.stdout and "liquidation 0." in r.stdout
    text = status_text(summary, None)
    assert "futures   3x isolated" in text and f"XRP/USDT {pos['side']}" in text and " liq 0." in text
    text = positions_text(summary, {"XRP/USDT": 1.07})
    assert "margin " in text and "funding " in text and "liquidation 0." in text


def test_the_operator_is_warned_once_as_the_close_nears_the_liquidation_price(tmp_path):
    """At 20x the liquidation price is about 5% away; an alert threshold of 4.9% is crossed
    by some candles of the real file: one warning per approach, each with the distance."""
    settings = _settings(tmp_path, futures={"leverage": 20, "liquidation_alert_pct": "4.9"},
                         risk={"min_liquidation_distance_pct": 1})
    replay_in_process(settings)
    warnings = [json.loads(p) for (p,) in rows(tmp_path / "q.sqlite",
                                               "select payload from events where kind = 'liquidation_warning'")]
    assert warnings, "some candle came within 4.9% of a 20x position's liquidation price"
    for w in warnings:
        mark, lp = Decimal(w["mark"]), Decimal(w["liquidation_price"])
        assert abs(mark - lp) / mark * 100 <= Decimal("4.9")
        assert Decimal(w["distance_pct"]) == round(abs(mark - lp) / mark * 100, 2)
    # once per approach: never two warnings on consecutive candles of one approach
    times = sorted(w["ts_ms"] for w in warnings)
    assert all(b - a > 300_000 for a, b in zip(times, times[1:]))
    from bot.alerts import format_event

    text = format_event(LiquidationWarning(0, "XRP/USDT", "-500", "1.05", "1.10250000", "4.76"))
    assert text == "LIQUIDATION NEAR XRP/USDT short 500: close 1.05 is 4.76% from the liquidation price 1.1025"


def test_a_spot_store_refuses_futures_and_bad_futures_settings_name_the_field(tmp_path):
    spot = load_settings(store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"})
    _, store = build_engine(spot)
    store.close()
    with pytest.raises(ConfigError, match="holds a spot account; market is futures"):
        build_engine(_settings(tmp_path))
    for mode in ("dry_run", "live"):  # their funding is the exchange's
        with pytest.raises(ConfigError, match=f"strategy.funding: a {mode} run books the funding the exchange"):
            _settings(tmp_path, mode=mode, strategy={"funding": str(FIXTURES / "XRP_USDT_USDT-8h-funding_rate.csv")})
    with pytest.raises(ConfigError, match="strategy.funding: funding rates apply to market futures"):
        load_settings(strategy={"funding": str(FIXTURES / "XRP_USDT_USDT-8h-funding_rate.csv")})
    with pytest.raises(ConfigError, match="futures.leverage"):
        _settings(tmp_path, futures={"leverage": 0})
    bad = tmp_path / "funding.csv"
    bad.write_text("timestamp,funding_rate\n1637193600002,0.0001\n1637222400000,abc\n")
    with pytest.raises(ConfigError, match="strategy.funding: .* line 3: bad funding row"):
        build_engine(_settings(tmp_path / "x", strategy={"funding": str(bad)}))


def test_several_futures_markets_get_each_its_own_tiers(tmp_path):
    settings = load_settings(market="futures", strategies=[
        {"name": "sma_cross", "symbol": s, "timeframe": "5m", "stake": "100"} for s in ("XRP/USDT", "BTC/USDT", "ETH/USDT")])
    tiers = settings.leverage_tiers()
    assert sorted(tiers) == ["BTC/USDT", "XRP/USDT"], "the bundled Binance tiers have BTC and XRP, not ETH"
    assert tiers["BTC/USDT"].at(Decimal(1000)) != tiers["XRP/USDT"].at(Decimal(1000))
    with pytest.raises(ConfigError, match="futures.tiers: .*no leverage tiers for ETH/USDT"):
        load_settings(market="futures", futures={"tiers": str(FIXTURES / "binance_leverage_tiers.json")},
                      strategy={"symbol": "ETH/USDT"}).leverage_tiers()


def test_leverage_changes_only_while_flat(tmp_path):
    settings = _settings(tmp_path)
    replay_in_process(settings)  # ends with a position open
    with pytest.raises(ConfigError, match="futures.leverage: 5 while the account holds XRP/USDT at 3x"):
        build_engine(_settings(tmp_path, futures={"leverage": 5}))
    assert rows(tmp_path / "q.sqlite", "select leverage from accounts") == [("3",)]


def test_the_futures_migration_keeps_a_spot_store_spot(tmp_path):
    """An old (schema 2) spot store gains the futures columns, NULL, and stays a spot account."""
    from tests.test_migrations import _old_store

    db = _old_store(tmp_path)
    store = open_store(f"sqlite:///{db}")
    try:
        state = load_state(store)
    finally:
        store.close()
    assert state.market == "spot" and not isinstance(state.portfolio, FuturesAccount)
    assert {r[1:] for r in rows(db, "select symbol, margin, cost, funding, liquidation_price from positions")} == \
        {(None, None, None, None)}


def test_telegram_shows_a_short_and_flatten_asks_to_buy_it_back(tmp_path, tg, data_dir):
    """The bot on a paper futures daemon: /positions shows the short with its margin, funding
    and liquidation price, and /flatten asks to buy it back, then does: a buy of the whole
    short, which fills at the next open."""
    from tests.telegram_helpers import ADMIN, Desk, button_press, command, until

    desk = Desk(tmp_path, tg.url, EXAMPLE, strategy={"params": {"fast": 10, "slow": 30, "allow_short": True}})
    try:
        for _ in range(900):
            desk.advance(1)
            pos = desk.engine.oms.portfolio.position("XRP/USDT")
            if pos.qty < 0 and not desk.engine.oms.open_orders():
                break
        assert pos.qty < 0, "a short opened"
        update = command(data_dir, "/positions", ADMIN)
        tg.push(update)
        sent = tg.wait_for(lambda s: any(m["method"] == "sendMessage" and "short qty" in m["text"] for m in s))
        text = next(m["text"] for m in sent if m["method"] == "sendMessage" and "short qty" in m["text"])
        assert f"XRP/USDT  short qty {abs(pos.qty).normalize():f}" in text
        assert "margin " in text and "liquidation 1." in text, "a short's liquidation price is above its entry"
        tg.push(command(data_dir, "/flatten XRP/USDT", ADMIN))
        sent = tg.wait_for(lambda s: any("Flatten XRP/USDT: buy back at market now?" in m.get("text", "") for m in s))
        ask = next(m for m in sent if "Flatten XRP/USDT: buy back" in m.get("text", ""))
        data = next(b["callback_data"] for b in ask["reply_markup"]["inline_keyboard"][0] if b["text"] == "Confirm")
        tg.push(button_press(data_dir, data, ADMIN, ask))
        until(lambda: desk.engine.oms.open_orders("XRP/USDT"))  # the flatten order, working
        (order,) = desk.engine.oms.open_orders("XRP/USDT")
        assert order.side.value == "buy" and order.qty == abs(pos.qty), "a short is flattened by buying it back"
        for _ in range(3):
            desk.advance(1)
        assert not desk.engine.oms.portfolio.position("XRP/USDT").qty, "filled at a following open"
        answer = rows(tmp_path / "q.sqlite", "select result from operator_commands order by id desc limit 1")[0][0]
        assert answer.startswith("XRP/USDT: buy open "), answer
    finally:
        desk.close()


def test_a_stored_short_without_its_margin_is_refused_with_a_clear_error(tmp_path):
    from engine.errors import StoreError

    settings = _settings(tmp_path)
    replay_in_process(settings)  # ends with a position open
    with sqlite3.connect(tmp_path / "q.sqlite") as con:
        con.execute("update positions set margin = NULL")
    store = open_store(settings.store.url)
    try:
        with pytest.raises(StoreError, match="XRP/USDT has no stored margin or cost basis"):
            load_state(store)
    finally:
        store.close()
