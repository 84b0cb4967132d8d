"""``run_walkforward`` as a user types it: progress per window, the windows table, the
verdict, and refusals that name the option."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backtests.walkforward.models import WalkForward
from tests.backtests.studies.study_data import session_days

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])
DAYS = session_days()


def args(publisher_id: int, *more: str) -> list[str]:
    return [
        "--strategy", "SMACrossover", "--symbols", "AAPL", "--bar-period", "MINUTE",
        "--publisher-id", str(publisher_id), "--space", "fast_period=5,10",
        "--space", "slow_period=10,20", "--constraint", "fast_period < slow_period",
        "--jobs", "1", *more,
    ]  # fmt: skip


def run(*given: str) -> list[str]:
    out = StringIO()
    call_command("run_walkforward", *given, stdout=out)
    return out.getvalue().splitlines()


def test_run_walkforward_prints_each_window_the_table_and_the_verdict(sessions):
    lines = run(
        *args(
            sessions, "--mode", "anchored", "--in-sample-days", "20", "--out-of-sample-days", "10"
        )
    )
    walkforward = WalkForward.objects.get()
    assert lines[0] == f"walk-forward {walkforward.walkforward_id}: {walkforward.name}"
    assert lines[1] == (
        "2 anchored windows of 20 in-sample + 10 out-of-sample trading days (step 10); "
        "each study on 1 process(es)"
    )
    assert lines[2].startswith(f"window 1/2 complete: in-sample {DAYS[0]}..{DAYS[19]} chose ")
    assert lines[3].startswith(f"window 2/2 complete: in-sample {DAYS[0]}..{DAYS[29]} chose ")
    header = lines[4].split()
    assert header[:4] == ["window", "in-sample", "out-of-sample", "fast_period"]
    assert lines[5].split()[2] == f"{DAYS[20]}..{DAYS[29]}"
    assert any(line.startswith("stitched out of sample: 20 trading days") for line in lines)
    assert walkforward.analysis["verdict"] in lines
    assert lines[-1] == f"completed {walkforward.walkforward_id}"


def test_run_walkforward_names_the_window_option_at_fault(sessions):
    with pytest.raises(CommandError) as caught:
        run(*args(sessions, "--in-sample-days", "20", "--out-of-sample-days", "0"))
    assert str(caught.value) == (
        "--out-of-sample-days: out_of_sample_days must be at least 1: each window's parameters "
        "are judged on the trading days after its in-sample part"
    )
    with pytest.raises(CommandError) as caught:
        run(*args(sessions, "--in-sample-days", "35", "--out-of-sample-days", "10"))
    assert str(caught.value) == (
        f"--in-sample-days: one window needs 45 trading days (35 in-sample + 10 out-of-sample), "
        f"the data has 40 ({DAYS[0]} to {DAYS[-1]})"
    )
    assert not WalkForward.objects.exists()
