"""Walk-forwards executed in this process (no queue): validation with dates, each window's
study and out-of-sample run, the stitched result, cancel, resume and delete."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from backtests.analysis.returns import daily_returns
from backtests.services.backtest_spec import backtest_spec_from_mapping
from backtests.services.evaluation import spec_evaluate
from backtests.studies.models import Study, StudyStatus
from backtests.walkforward.definition import walkforward_definition_build
from backtests.walkforward.local import walkforward_run_locally
from backtests.walkforward.models import (
    WalkForwardStatus,
    WalkForwardWindow,
    WindowStatus,
)
from backtests.walkforward.oos import oos_evaluate
from backtests.walkforward.services import (
    walkforward_cancel,
    walkforward_create,
    walkforward_resume,
    walkforwards_delete,
)
from ostsite.errors import Conflict, InvalidInput
from tests.backtests.market_data import P
from tests.backtests.studies.study_data import session_bars, session_days

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

DAYS = session_days()  # the 40 trading days of the data, by the test data's own calendar
GRID = [(5, 10), (5, 20), (10, 20)]  # fast < slow of fast in (5, 10) x slow in (10, 20)


def test_windows_are_laid_over_the_symbols_trading_days(walkforward_body):
    definition = walkforward_definition_build(**walkforward_body)
    assert [(w.is_start, w.is_end, w.oos_start, w.oos_end) for w in definition.windows] == [
        (DAYS[0], DAYS[19], DAYS[20], DAYS[29]),
        (DAYS[10], DAYS[29], DAYS[30], DAYS[39]),
    ]


def test_windows_that_do_not_fit_are_refused_with_the_data_s_dates(walkforward_body):
    with pytest.raises(InvalidInput) as caught:
        walkforward_definition_build(**{**walkforward_body, "in_sample_days": 25})
    message = caught.value.fields["windows"]
    assert f"the data has 40 ({DAYS[0].isoformat()} to {DAYS[-1].isoformat()})" in message


def test_study_and_window_errors_are_reported_together(walkforward_body):
    with pytest.raises(InvalidInput) as caught:
        walkforward_definition_build(
            **{**walkforward_body, "objective": "luck", "out_of_sample_days": 0}
        )
    assert set(caught.value.fields) == {"objective", "out_of_sample_days"}


def test_chosen_dates_narrow_the_calendar(walkforward_body):
    body = {
        **walkforward_body,
        "start_date": DAYS[5].isoformat(),
        "in_sample_days": 10,
        "out_of_sample_days": 5,
    }
    windows = walkforward_definition_build(**body).windows
    assert windows[0].is_start == DAYS[5]
    assert windows[0].oos_start == DAYS[15]
    assert len(windows) == 5  # 35 days: out-of-sample starts at 15, 20, 25, 30, 35


def _best_in_sample(spec, start, end) -> tuple[int, int]:
    """The grid point with the highest net P&L on the dates, by running each as a backtest."""
    scores = {}
    for fast, slow in GRID:
        params = {**spec.params, "fast_period": fast, "slow_period": slow}
        run = spec_evaluate(replace(spec, params=params, start_date=start, end_date=end))
        scores[(fast, slow)] = run.metrics["net_pnl"]
    best = max(scores.values())
    return next(point for point in GRID if scores[point] == best)  # first on a tie


def test_walkforward_picks_each_window_s_best_and_stitches_the_out_of_sample_parts(
    walkforward_body,
):
    walkforward = walkforward_create(
        definition=walkforward_definition_build(**walkforward_body), enqueue=False
    )
    walkforward = walkforward_run_locally(walkforward_id=walkforward.walkforward_id, jobs=1)
    assert walkforward.status == WalkForwardStatus.COMPLETED
    windows = list(walkforward.windows.order_by("index"))
    assert [w.status for w in windows] == [WindowStatus.COMPLETE, WindowStatus.COMPLETE]
    spec = backtest_spec_from_mapping(walkforward.config)
    for window in windows:
        assert window.study.status == StudyStatus.COMPLETED
        assert window.study.config["start_date"] == window.is_start.isoformat()
        assert window.study.config["end_date"] == window.is_end.isoformat()
        expected = _best_in_sample(spec, window.is_start, window.is_end)
        assert (window.params["fast_period"], window.params["slow_period"]) == expected
    analysis = walkforward.analysis
    assert analysis["parameters"]["fast_period"] == [w.params["fast_period"] for w in windows]
    # The stitched curve: window 2's equity scaled by where window 1 ended.
    capital = float(walkforward.config["capital"])
    first_end = capital + windows[0].oos_metrics["net_pnl"]
    stitched = analysis["stitched"]["equity"]
    assert len(stitched) == 20
    assert stitched[9] == pytest.approx(first_end, abs=0.01)
    growth = 1 + windows[1].oos_metrics["net_pnl"] / capital
    assert stitched[-1] == pytest.approx(first_end * growth, abs=0.02)
    assert analysis["metrics"]["trading_days"] == 20
    assert "probabilistic Sharpe" in analysis["verdict"] or "no Sharpe ratio" in analysis["verdict"]


def _sma(values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(values.size, np.nan)
    sums = np.convolve(values, np.ones(n), "valid") / n
    out[n - 1 :] = sums
    return out


def test_the_first_out_of_sample_bars_trade_on_warmed_up_indicators(walkforward_body):
    """Closes from the test data itself; the SMAs and their first crossover on or after the
    out-of-sample start worked out with numpy, independently of the engine."""
    spec = walkforward_definition_build(**walkforward_body).study.spec
    fast, slow = 5, 20
    spec = replace(spec, params={**spec.params, "fast_period": fast, "slow_period": slow})
    rows = session_bars()
    ts = np.array([row[1] for row in rows], dtype=np.int64)
    close = np.array([row[5] / P for row in rows])
    fast_sma, slow_sma = _sma(close, fast), _sma(close, slow)
    oos_start, oos_end = DAYS[20], DAYS[24]
    first_oos = int(np.searchsorted(ts, ts[20 * 30]))  # 30 bars a session
    crossed = [
        i
        for i in range(first_oos, ts.size - 1)
        if not np.isnan(slow_sma[i - 1])
        and (
            (fast_sma[i - 1] <= slow_sma[i - 1] and fast_sma[i] > slow_sma[i])
            or (fast_sma[i - 1] >= slow_sma[i - 1] and fast_sma[i] < slow_sma[i])
        )
    ]
    signal = crossed[0]
    assert signal - first_oos < slow  # a cold start could not have traded there yet
    outcome = oos_evaluate(spec, warmup_start=DAYS[0], oos_start=oos_start, oos_end=oos_end)
    assert outcome.first_fill_ns == ts[signal + 1]  # market order, filled at the next bar
    epoch = dt.date(1970, 1, 1)
    assert [int(d) for d in outcome.days] == [(day - epoch).days for day in DAYS[20:25]]
    cold = spec_evaluate(replace(spec, start_date=oos_start, end_date=oos_end))
    cold_first = int(cold.report.account.fills["ts"].min())
    assert cold_first > outcome.first_fill_ns


def test_out_of_sample_equity_starts_from_the_capital_with_nothing_traded_before():
    from backtests.walkforward.analysis import series_metrics

    capital = 1000.0
    equity = np.array([1010.0, 990.0, 1020.0])
    metrics = series_metrics(equity, np.array([1000.0, 1005.0, 1010.0]), capital)
    assert metrics["total_return_pct"] == pytest.approx(2.0)
    assert metrics["max_drawdown_pct"] == pytest.approx(100 * 20 / 1010, abs=1e-4)
    expected_annual = (1020 / 1000) ** (252 / 3) - 1
    assert metrics["annualised_return_pct"] == pytest.approx(100 * expected_annual, rel=1e-6)
    assert metrics["sharpe"] is None  # fewer than 20 days
    returns = daily_returns(equity, capital)
    assert returns[0] == pytest.approx(0.01)


def test_cancel_stops_the_studies_and_resume_finishes_it(walkforward_body):
    walkforward = walkforward_create(
        definition=walkforward_definition_build(**walkforward_body), enqueue=False
    )
    cancelled = walkforward_cancel(walkforward_id=walkforward.walkforward_id)
    assert cancelled.status == WalkForwardStatus.CANCELLED
    studies = Study.objects.filter(walkforward_windows__walkforward=walkforward)
    assert {s.status for s in studies} == {StudyStatus.CANCELLED}
    assert set(walkforward.windows.values_list("status", flat=True)) == {WindowStatus.CANCELLED}
    resumed = walkforward_resume(walkforward_id=walkforward.walkforward_id, enqueue=False)
    assert resumed.status == WalkForwardStatus.RUNNING
    assert {s.status for s in studies.all()} == {StudyStatus.QUEUED}
    with pytest.raises(Conflict) as caught:
        walkforward_resume(walkforward_id=walkforward.walkforward_id, enqueue=False)
    assert "only a cancelled one can be resumed" in caught.value.message
    done = walkforward_run_locally(walkforward_id=walkforward.walkforward_id, jobs=1)
    assert done.status == WalkForwardStatus.COMPLETED
    with pytest.raises(Conflict) as caught:
        walkforward_cancel(walkforward_id=walkforward.walkforward_id)
    assert "already finished (completed)" in caught.value.message


def test_delete_removes_windows_and_their_studies(walkforward_body):
    walkforward = walkforward_create(
        definition=walkforward_definition_build(**walkforward_body), enqueue=False
    )
    study_ids = list(walkforward.windows.values_list("study_id", flat=True))
    assert walkforwards_delete(walkforward_ids=[walkforward.walkforward_id, "unknown"]) == 1
    assert not WalkForwardWindow.objects.exists()
    assert not Study.objects.filter(study_id__in=study_ids).exists()
    with pytest.raises(InvalidInput):
        walkforwards_delete(walkforward_ids="all")
