"""Backtest specs and the run lifecycle, on real ingested security-master data."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from backtests.engine.enums import BarPeriod, OrderType, TradeSide
from backtests.engine.strategies.base import ParamSpec, StrategyBase
from backtests.engine.strategies.base import _strategy_classes as registered
from backtests.models import EVENT_MODELS, Fill, OrderSubmission, RecordedBar, Run
from backtests.services import backtest_spec as spec_module
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import (
    STALE_RUN_ERROR,
    run_cancel,
    run_create,
    run_execute,
    runs_delete,
    runs_fail_stale,
)
from ostsite.errors import Conflict, InvalidInput, NotFound
from tests.backtests.market_data import P, ingest_bars, minute_bars, ns

DBS = ["default", "secmaster"]
MAPPINGS = {"AAPL": [("2024-01-02", "2024-01-10", 10)], "MSFT": [("2024-01-02", "2024-01-10", 20)]}


@pytest.fixture
def publisher_id(tmp_path) -> int:
    """AAPL and MSFT: 300 one-minute bars each from 2024-01-02 14:30 UTC."""
    bars = minute_bars(10, "2024-01-02T14:30", 300) + minute_bars(
        20, "2024-01-02T14:30", 300, base=50
    )
    return ingest_bars(tmp_path, bars=bars, mappings=MAPPINGS)


@pytest.fixture
def scripted_strategy():
    """Buys 2 on its 2nd bar and sells 2 on its 4th: fills at the opens of bars 3 and 5."""

    class ScriptedRoundTrip(StrategyBase):
        name = "Scripted round trip"
        parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}

        def setup(self) -> None:
            self.seen = 0

        def on_bar(self, bar) -> None:
            self.seen += 1
            if self.seen == 2:
                self.submit_order(OrderType.MARKET, TradeSide.BUY, 2.0)
            elif self.seen == 4:
                self.submit_order(OrderType.MARKET, TradeSide.SELL, 2.0)

    yield "ScriptedRoundTrip"
    registered.pop("ScriptedRoundTrip", None)


@pytest.fixture
def failing_strategy():
    class FailsOnThirdBar(StrategyBase):
        parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}

        def setup(self) -> None:
            self.seen = 0

        def on_bar(self, bar) -> None:
            self.seen += 1
            if self.seen == 3:
                raise ValueError("boom at bar 3")

    yield "FailsOnThirdBar"
    registered.pop("FailsOnThirdBar", None)


@pytest.fixture
def slow_strategy():
    class SlowStrategy(StrategyBase):
        parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}

        def on_bar(self, bar) -> None:
            time.sleep(0.0005)

    yield "SlowStrategy"
    registered.pop("SlowStrategy", None)


def _spec(publisher: int, **overrides):
    values = {
        "strategy": "SMACrossover",
        "strategy_params": {"fast_period": 5, "slow_period": 10},
        "symbols": ["AAPL", "MSFT"],
        "rtype": 33,
        "publisher_id": publisher,
        "start_date": "2024-01-02",
        "end_date": "2024-01-02",
    }
    values.update(overrides)
    return backtest_spec_build(**values)


# --- backtest_spec_build ---------------------------------------------------------------


@pytest.mark.django_db(databases=DBS)
def test_spec_build_valid_request_gives_config_with_resolved_params(publisher_id):
    spec = _spec(publisher_id, record="trades", commission_per_unit="0.01", minimum_commission=1)

    assert spec.to_config() == {
        "strategy": "SMACrossover",
        "strategy_params": {
            "bar_period": "MINUTE",
            "fast_period": 5,
            "slow_period": 10,
            "quantity": 1.0,
        },
        "symbols": ["AAPL", "MSFT"],
        "rtype": 33,
        "bar_period": "MINUTE",
        "publisher_id": publisher_id,
        "publisher": "databento",
        "dataset": "XNAS.ITCH",
        "start_date": "2024-01-02",
        "end_date": "2024-01-02",
        "record": "trades",
        "commission_per_unit": 0.01,
        "minimum_commission": 1.0,
        "fill_timing": "next_bar",
        "capital": 100_000.0,
        "risk_free_rate": 0.0,
        "fill_model": "classic",  # fill model and costs: defaults, OneSecondTrader 0.75's fills
        "slippage_ticks": 0.0,
        "slippage_bps": 0.0,
        "tick_size": None,
        "participation_cap": None,
        "latency_ms": 0.0,
    }
    assert spec.params["bar_period"] is BarPeriod.MINUTE
    assert spec.default_name() == "SMACrossover AAPL,MSFT 2024-01-02..2024-01-02"


@pytest.mark.django_db(databases=DBS)
def test_spec_build_capital_and_risk_free_rate_are_kept(publisher_id):
    spec = _spec(publisher_id, capital="25000.5", risk_free_rate=0.03)
    assert (spec.capital, spec.risk_free_rate) == (25_000.5, 0.03)
    assert spec.to_config()["capital"] == 25_000.5


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"strategy": "Nope"}, "strategy", "unknown strategy 'Nope'; known: "),
        ({"strategy": 7}, "strategy", spec_module.STRATEGY_NOT_STRING),
        ({"strategy_params": [1]}, "strategy_params", spec_module.PARAMS_NOT_OBJECT),
        ({"strategy_params": {"speed": 1}}, "strategy_params", "unknown parameter 'speed'"),
        (
            {"strategy_params": {"fast_period": "x"}},
            "strategy_params",
            "fast_period: expected an integer",
        ),
        ({"strategy_params": {"fast_period": 1}}, "strategy_params", "fast_period"),
        ({"strategy_params": {"bar_period": "DAY"}}, "strategy_params", "disagrees with rtype 33"),
        ({"rtype": 36}, "rtype", "rtype must be one of 32 (SECOND), 33 (MINUTE)"),
        ({"rtype": True}, "rtype", "rtype must be one of"),
        ({"rtype": 35}, "symbols", "no DAY bars of databento/XNAS.ITCH for: AAPL, MSFT"),
        ({"publisher_id": "x"}, "publisher_id", spec_module.PUBLISHER_INVALID),
        ({"publisher_id": 999}, "publisher_id", "publisher_id 999 does not exist"),
        ({"symbols": []}, "symbols", spec_module.SYMBOLS_EMPTY),
        ({"symbols": "AAPL"}, "symbols", spec_module.SYMBOLS_NOT_LIST),
        ({"symbols": ["AAPL", 3]}, "symbols", "symbol #2 is not a non-empty string"),
        (
            {"symbols": ["AAPL", "TSLA"]},
            "symbols",
            "no MINUTE bars of databento/XNAS.ITCH for: TSLA",
        ),
        ({"start_date": "2024-13-01"}, "start_date", "start_date must be a date YYYY-MM-DD"),
        ({"end_date": "20240102"}, "end_date", "end_date must be a date YYYY-MM-DD"),
        (
            {"start_date": "2024-01-03", "end_date": "2024-01-02"},
            "end_date",
            "is before start_date",
        ),
        ({"start_date": "2024-02-01", "end_date": None}, "start_date", "after the last bar"),
        ({"start_date": None, "end_date": "2024-01-01"}, "end_date", "before the first bar"),
        ({"record": "all"}, "record", spec_module.RECORD_INVALID),
        ({"fill_timing": "later"}, "fill_timing", spec_module.FILL_TIMING_INVALID),
        ({"commission_per_unit": -1}, "commission_per_unit", "commission_per_unit must be"),
        ({"minimum_commission": "nan"}, "minimum_commission", "minimum_commission must be"),
        ({"capital": 0}, "capital", spec_module.CAPITAL_INVALID),
        ({"capital": -5}, "capital", spec_module.CAPITAL_INVALID),
        ({"capital": "inf"}, "capital", spec_module.CAPITAL_INVALID),
        ({"capital": 10**400}, "capital", spec_module.CAPITAL_INVALID),
        ({"capital": "١٠٠"}, "capital", spec_module.CAPITAL_INVALID),
        ({"capital": True}, "capital", spec_module.CAPITAL_INVALID),
        ({"risk_free_rate": 3}, "risk_free_rate", spec_module.RISK_FREE_INVALID),
        ({"risk_free_rate": "x"}, "risk_free_rate", spec_module.RISK_FREE_INVALID),
    ],
)
def test_spec_build_bad_field_raises_invalid_input_naming_it(
    publisher_id, overrides, field, fragment
):
    with pytest.raises(InvalidInput) as caught:
        _spec(publisher_id, **overrides)

    assert field in caught.value.fields
    assert fragment in caught.value.fields[field]
    assert fragment in caught.value.message


# --- run_create / run_execute ----------------------------------------------------------


@pytest.mark.django_db(databases=DBS)
def test_run_create_spec_gives_queued_run_with_config_and_default_name(publisher_id):
    run = run_create(spec=_spec(publisher_id))

    stored = Run.objects.get(run_id=run.run_id)
    assert (stored.status, stored.name, stored.progress) == (
        "queued",
        "SMACrossover AAPL,MSFT 2024-01-02..2024-01-02",
        0.0,
    )
    assert stored.config["strategy_params"]["fast_period"] == 5
    assert stored.config["fill_timing"] == "next_bar"  # as OneSecondTrader 0.75
    assert len(run.run_id) == 12
    assert run_create(spec=_spec(publisher_id), name=" mine ").name == "mine"


@pytest.mark.django_db(databases=DBS)
def test_run_execute_scripted_strategy_completes_with_hand_computed_pnl(
    publisher_id, scripted_strategy
):
    spec = _spec(
        publisher_id,
        strategy=scripted_strategy,
        strategy_params={},
        symbols=["AAPL"],
        commission_per_unit=0.4,
        minimum_commission=1.0,
    )
    run = run_create(spec=spec)

    done = run_execute(run_id=run.run_id)

    aapl = minute_bars(10, "2024-01-02T14:30", 300)
    open3, open5 = aapl[2][2] / P, aapl[4][2] / P
    gross = 2 * (open5 - open3)
    assert done.status == "completed"
    assert done.progress == 100.0
    assert done.ts_end is not None and done.worker
    meta = done.metadata
    assert (meta["bars"], meta["orders"], meta["fills"]) == (300, 2, 2)
    # Flat at the end: all realised, max(2 * 0.4, 1.0) commission per fill.
    assert meta["net_pnl"] == pytest.approx(gross - 2 * 1.0, abs=0.005)
    assert meta["summary"]["realised_pnl"] == meta["net_pnl"]
    assert meta["summary"]["open_pnl"] == 0.0
    assert meta["summary"]["trades"] == 1
    assert meta["warnings"] == []
    assert meta["indicators"] == []
    assert meta["bars_per_second"] > 0
    fills = list(Fill.objects.filter(run_id=run.run_id).order_by("ts_event_ns"))
    assert [(f.side, f.quantity_filled, f.fill_price, f.ts_event_ns) for f in fills] == [
        ("BUY", 2.0, open3, ns("2024-01-02T14:32")),
        ("SELL", 2.0, open5, ns("2024-01-02T14:34")),
    ]
    assert RecordedBar.objects.filter(run_id=run.run_id).count() == 300


@pytest.mark.django_db(databases=DBS)
def test_run_execute_sma_crossover_records_indicator_metadata(publisher_id):
    run = run_create(spec=_spec(publisher_id, record="trades"))

    done = run_execute(run_id=run.run_id)

    assert done.status == "completed"
    assert [i["name"] for i in done.metadata["indicators"]] == ["SMA(5)", "SMA(10)"]
    assert set(done.metadata["indicators"][0]) == {"name", "placement", "color", "style"}
    assert done.metadata["bars"] == 600
    assert done.metadata["fills"] == Fill.objects.filter(run_id=run.run_id).count() > 0
    assert RecordedBar.objects.filter(run_id=run.run_id).count() == 0


@pytest.mark.django_db(databases=DBS)
def test_run_execute_strategy_raising_marks_failed_and_keeps_bars_before(
    publisher_id, failing_strategy
):
    run = run_create(
        spec=_spec(publisher_id, strategy=failing_strategy, strategy_params={}, symbols=["AAPL"])
    )

    done = run_execute(run_id=run.run_id)

    assert done.status == "failed"
    assert done.metadata["error"] == "ValueError: boom at bar 3"
    assert "boom at bar 3" in done.metadata["traceback"]
    assert done.ts_end is not None
    # Bars are recorded before on_bar runs, so the failing bar is there too.
    assert RecordedBar.objects.filter(run_id=run.run_id).count() == 3


@pytest.mark.django_db(databases=DBS)
def test_run_execute_twice_gives_identical_rows_in_every_event_table(publisher_id):
    first = run_execute(run_id=run_create(spec=_spec(publisher_id)).run_id)
    second = run_execute(run_id=run_create(spec=_spec(publisher_id)).run_id)

    assert first.metadata["fills"] > 0
    for model in EVENT_MODELS:
        columns = [
            f.attname for f in model._meta.concrete_fields if f.attname not in ("id", "run_id")
        ]
        rows = [
            list(model.objects.filter(run_id=r.run_id).order_by("id").values_list(*columns))
            for r in (first, second)
        ]
        assert rows[0] == rows[1], model._meta.db_table
    assert RecordedBar.objects.filter(run_id=first.run_id).count() == 600


@pytest.mark.django_db(databases=DBS)
def test_run_execute_not_queued_raises_conflict_and_cancelled_is_left_alone(publisher_id):
    run = run_execute(run_id=run_create(spec=_spec(publisher_id)).run_id)
    with pytest.raises(Conflict, match="only a queued run"):
        run_execute(run_id=run.run_id)

    queued = run_create(spec=_spec(publisher_id))
    run_cancel(run_id=queued.run_id)
    assert run_execute(run_id=queued.run_id).status == "cancelled"
    assert RecordedBar.objects.filter(run_id=queued.run_id).count() == 0


@pytest.mark.django_db
def test_run_execute_unknown_run_raises_not_found():
    with pytest.raises(NotFound, match="'nope' does not exist"):
        run_execute(run_id="nope")


# --- cancel / delete / stale -----------------------------------------------------------


@pytest.mark.django_db(databases=DBS)
def test_run_cancel_finished_run_raises_conflict(publisher_id):
    run = run_execute(run_id=run_create(spec=_spec(publisher_id)).run_id)

    with pytest.raises(Conflict, match="already finished"):
        run_cancel(run_id=run.run_id)
    with pytest.raises(NotFound):
        run_cancel(run_id="missing")


def _execute_in_thread(run_id: str, result: dict) -> threading.Thread:
    def target():
        try:
            result["run"] = run_execute(run_id=run_id)
        except BaseException as exc:  # surfaced by the test's assertions
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def _wait_until_running(run_id: str) -> None:
    deadline = time.monotonic() + 30
    while Run.objects.get(run_id=run_id).status != "running":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.02)
    time.sleep(0.3)  # let it record a batch or two


@pytest.fixture
def long_publisher(tmp_path) -> int:
    """One symbol with 4000 one-minute bars (several datafeed batches)."""
    mappings = {"AAPL": [("2024-01-02", "2024-01-10", 10)]}
    return ingest_bars(tmp_path, bars=minute_bars(10, "2024-01-02T00:00", 4000), mappings=mappings)


@pytest.mark.django_db(databases=DBS, transaction=True)
def test_run_cancel_while_running_stops_the_worker_early(long_publisher, slow_strategy):
    spec = _spec(
        long_publisher,
        strategy=slow_strategy,
        strategy_params={},
        symbols=["AAPL"],
        start_date=None,
        end_date=None,
    )
    run = run_create(spec=spec)
    result: dict = {}
    thread = _execute_in_thread(run.run_id, result)

    _wait_until_running(run.run_id)
    assert run_cancel(run_id=run.run_id).status == "cancelling"
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert "error" not in result
    final = Run.objects.get(run_id=run.run_id)
    assert final.status == "cancelled"
    assert final.ts_end is not None
    assert 0 < final.metadata["bars"] < 4000
    assert RecordedBar.objects.filter(run_id=run.run_id).count() == final.metadata["bars"]


@pytest.mark.django_db(databases=DBS, transaction=True)
def test_runs_delete_while_running_stops_the_worker_without_error(long_publisher, slow_strategy):
    spec = _spec(
        long_publisher,
        strategy=slow_strategy,
        strategy_params={},
        symbols=["AAPL"],
        start_date=None,
        end_date=None,
    )
    run = run_create(spec=spec)
    result: dict = {}
    thread = _execute_in_thread(run.run_id, result)

    _wait_until_running(run.run_id)
    assert runs_delete(run_ids=[run.run_id, "unknown"]) == 1
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert "error" not in result
    assert result["run"].status == "cancelled"
    assert not Run.objects.filter(run_id=run.run_id).exists()
    for model in EVENT_MODELS:
        assert not model.objects.filter(run_id=run.run_id).exists(), model._meta.db_table


@pytest.mark.django_db(databases=DBS)
def test_runs_delete_removes_runs_and_all_their_events(publisher_id):
    kept = run_execute(run_id=run_create(spec=_spec(publisher_id)).run_id)
    gone = run_execute(run_id=run_create(spec=_spec(publisher_id)).run_id)

    assert runs_delete(run_ids=[gone.run_id]) == 1

    assert list(Run.objects.values_list("run_id", flat=True)) == [kept.run_id]
    assert RecordedBar.objects.filter(run_id=kept.run_id).count() == 600
    assert sum(m.objects.filter(run_id=gone.run_id).count() for m in EVENT_MODELS) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["abc", [1], None])
def test_runs_delete_bad_ids_raise_invalid_input(bad):
    with pytest.raises(InvalidInput, match="run_ids must be a list"):
        runs_delete(run_ids=bad)


@pytest.mark.django_db(databases=DBS, transaction=True)
def test_run_failed_as_stale_while_executing_is_never_written_by_its_worker_again(
    long_publisher, slow_strategy
):
    # A worker paused (SIGSTOP) past the heartbeat limit has its run failed by the stale-run
    # check; once it resumes, the run is no longer its own. Here the check fails the run
    # while the worker thread goes on, which is what the resumed worker does.
    spec = _spec(
        long_publisher,
        strategy=slow_strategy,
        strategy_params={},
        symbols=["AAPL"],
        start_date=None,
        end_date=None,
    )
    run = run_create(spec=spec)
    result: dict = {}
    thread = _execute_in_thread(run.run_id, result)
    _wait_until_running(run.run_id)
    deadline = time.monotonic() + 30
    while not RecordedBar.objects.filter(run_id=run.run_id).exists():  # a batch is written
        assert time.monotonic() < deadline, "no batch was written"
        time.sleep(0.02)

    assert runs_fail_stale(older_than_seconds=-60) == 1  # every running run counts as stale
    failed = Run.objects.get(run_id=run.run_id)
    counts = {m.__name__: m.objects.filter(run_id=run.run_id).count() for m in EVENT_MODELS}
    assert counts["RecordedBar"] > 0
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert "error" not in result
    assert result["run"].status == "failed"
    final = Run.objects.get(run_id=run.run_id)
    expected_error = STALE_RUN_ERROR.format(seconds=-60)
    assert final.metadata == {**(run.metadata or {}), "error": expected_error}
    assert (final.status, final.ts_end, final.progress, final.heartbeat_ns) == (
        "failed",
        failed.ts_end,
        failed.progress,
        failed.heartbeat_ns,
    )
    after = {m.__name__: m.objects.filter(run_id=run.run_id).count() for m in EVENT_MODELS}
    assert after == counts


@pytest.mark.django_db(databases=DBS)
def test_run_claimed_again_by_another_execution_refuses_the_first_ones_batches(publisher_id):
    from backtests.recording import OrmRecorder
    from backtests.recording.batches import Batch

    run = run_create(spec=_spec(publisher_id, record="trades"))
    Run.objects.filter(run_id=run.run_id).update(status="running", claim="second")
    row = ("O1", "AAPL", "MARKET", "BUY", 1.0, None, None, None, None)
    for claim, written in (("first", False), ("second", True)):
        recorder = OrmRecorder(run_id=run.run_id, record="trades", claim=claim)
        recorder.open()
        recorder._writer.write(
            Batch(
                run.run_id, {"order_submissions": [(run.run_id, 1, 1, *row)]}, events=1, claim=claim
            )
        )
        recorder.flush()
        assert recorder.run_deleted is not written
    assert OrderSubmission.objects.filter(run_id=run.run_id).count() == 1


def test_recording_statements_know_the_executing_statuses():
    from backtests.models import EXECUTING_STATUSES
    from backtests.recording import statements

    assert tuple(EXECUTING_STATUSES) == statements.EXECUTING_STATUSES
    for status in EXECUTING_STATUSES:
        assert f"'{status}'" in statements.RUN_CLAIMED_SQL


@pytest.mark.django_db
def test_runs_fail_stale_ends_a_cancelling_run_cancelled():
    Run.objects.create(
        run_id="stopping", name="x", ts_start=1, status="cancelling", heartbeat_ns=1, metadata={}
    )
    assert runs_fail_stale(older_than_seconds=30) == 1
    run = Run.objects.get(run_id="stopping")
    assert run.status == "cancelled" and run.ts_end is not None
    assert run.metadata == {"stopped": STALE_RUN_ERROR.format(seconds=30)}


@pytest.mark.django_db
def test_runs_fail_stale_old_heartbeat_fails_only_dead_running_runs():
    now = time.time_ns()
    for run_id, status, heartbeat in [
        ("dead", "running", now - 60 * 10**9),
        ("alive", "running", now - 5 * 10**9),
        ("waiting", "queued", None),
        ("done", "completed", now - 3600 * 10**9),
    ]:
        Run.objects.create(
            run_id=run_id,
            name=run_id,
            ts_start=1,
            status=status,
            heartbeat_ns=heartbeat,
            metadata={"bars": 1},
        )

    assert runs_fail_stale(older_than_seconds=30) == 1

    statuses = dict(Run.objects.values_list("run_id", "status"))
    assert statuses == {
        "dead": "failed",
        "alive": "running",
        "waiting": "queued",
        "done": "completed",
    }
    dead = Run.objects.get(run_id="dead")
    assert dead.metadata == {
        "bars": 1,
        "error": "the worker stopped responding (no heartbeat for more than 30 s)",
    }
    assert dead.ts_end is not None
