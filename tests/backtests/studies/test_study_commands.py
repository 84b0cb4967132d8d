# ruff: noqa: E501  (expected messages and command lines are asserted verbatim)
"""``run_study`` and ``list_studies`` as a user types them."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backtests.studies.models import Study, StudyStatus, Trial, TrialStatus
from backtests.studies.services import study_cancel

DATABASES = ["default", "secmaster"]


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("run_study", *args, stdout=out)
    return out.getvalue().splitlines()


def grid_args(publisher_id: int) -> list[str]:
    return [
        "--strategy",
        "SMACrossover",
        "--symbols",
        "AAPL",
        "--bar-period",
        "MINUTE",
        "--publisher-id",
        str(publisher_id),
        "--space",
        "fast_period=5:15:5",
        "--space",
        "slow_period=10,20,30,40",
        "--constraint",
        "slow_period - fast_period >= 5",
        "--objective",
        "net_pnl",
        "--batch-size",
        "3",
    ]


@pytest.mark.django_db(databases=DATABASES)
def test_run_study_runs_the_grid_and_prints_the_top_trials_and_the_id(sessions):
    lines = run(*grid_args(sessions), "--jobs", "1", "--top", "3")
    study = Study.objects.get()
    assert lines[-1] == study.study_id
    assert lines[0].startswith(f"study {study.study_id}: SMACrossover AAPL")
    assert lines[1].startswith(
        "grid search of 10 trials on 1 process(es); objective net_pnl (maximize)"
    )
    assert lines[2].startswith(
        f"study {study.study_id} completed: 10 trials (10 complete, 0 infeasible, 0 failed)"
    )
    assert lines[3] == "top 3 by net_pnl:"
    assert lines[4].split() == [
        "trial",
        "fast_period",
        "slow_period",
        "net_pnl",
        "trades",
        "sharpe",
        "max_drawdown",
    ]
    best = list(Trial.objects.filter(study=study).order_by("-value", "number")[:3])
    assert [int(line.split()[0]) for line in lines[5:8]] == [t.number for t in best]
    assert lines[8].startswith("The best of 10 trials has a deflated Sharpe of ")


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_run_study_in_two_processes_runs_each_trial_once(sessions):
    run(*grid_args(sessions), "--jobs", "2")
    study = Study.objects.get()
    assert study.status == StudyStatus.COMPLETED
    trials = list(Trial.objects.filter(study=study))
    assert len(trials) == 10 and {t.status for t in trials} == {TrialStatus.COMPLETE}
    assert len({t.worker for t in trials}) == 2  # both processes took trials


@pytest.mark.django_db(databases=DATABASES)
def test_resume_continues_a_cancelled_study(sessions):
    run(*grid_args(sessions), "--jobs", "1", "--trials", "4")
    study = Study.objects.get()
    Study.objects.filter(pk=study.pk).update(status=StudyStatus.RUNNING, n_trials=10)
    Trial.objects.filter(study=study, number=3).update(status=TrialStatus.WAITING, value=None)
    study_cancel(study_id=study.study_id)
    lines = run("--resume", study.study_id, "--jobs", "1")
    assert lines[-1] == study.study_id
    assert Trial.objects.filter(study=study, status=TrialStatus.COMPLETE).count() == 10


@pytest.mark.django_db(databases=DATABASES)
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--space", "quantity=1:2:0"], "--space quantity: step must be above 0, got 0"),
        (["--trials", "0"], "--trials: n_trials must be at least 1 (the number of trials to run)"),
        (
            ["--space", "speed"],
            "--space expects NAME=MIN:MAX[:STEP], NAME=A,B,C or NAME=VALUE, got 'speed'",
        ),
        (
            ["--space", "speed=1:3"],
            "--space speed: unknown parameter 'speed'; known: bar_period, fast_period, slow_period, quantity",
        ),
        (
            ["--constraint", "fast_period"],
            "--constraint: constraint 'fast_period' is not a comparison: write it like 'fast_period < slow_period' (comparisons joined by and/or/not)",
        ),
        (["--objective", "luck"], None),
        (["--jobs", "0"], "--jobs must be a whole number of processes from 1 to 256, got '0'"),
    ],
)
def test_bad_options_are_refused_naming_the_option(sessions, change, message):
    with pytest.raises(CommandError) as caught:
        run(*grid_args(sessions), *change)
    if message is not None:
        assert str(caught.value) == message
    else:
        assert str(caught.value).startswith(
            "--objective: objective must be a run metric: net_pnl, "
        )
    assert not Study.objects.exists()


@pytest.mark.django_db(databases=DATABASES)
def test_resume_refuses_unknown_studies_and_other_options(sessions):
    with pytest.raises(CommandError, match="^study 'nope' does not exist$"):
        run("--resume", "nope")
    with pytest.raises(CommandError, match="^--resume continues a study as it was defined"):
        run("--resume", "nope", "--strategy", "SMACrossover")


@pytest.mark.django_db(databases=DATABASES)
def test_list_studies_shows_progress_and_best(sessions):
    out = StringIO()
    call_command("list_studies", stdout=out)
    assert out.getvalue() == "no studies yet (start one with manage.py run_study)\n"
    run(*grid_args(sessions), "--jobs", "1", "--name", "my grid")
    study = Study.objects.get()
    best = Trial.objects.filter(study=study).order_by("-value").first()
    out = StringIO()
    call_command("list_studies", stdout=out)
    header, row = out.getvalue().splitlines()
    assert header.split() == [
        "study",
        "status",
        "strategy",
        "sampler",
        "objective",
        "trials",
        "best",
        "name",
    ]
    assert row.split() == [
        study.study_id,
        "completed",
        "SMACrossover",
        "grid",
        "net_pnl",
        "(max)",
        "10/10",
        f"{best.value:,.4g}",
        "my",
        "grid",
    ]
