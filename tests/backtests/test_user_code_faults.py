"""Broken user strategy files: a run fails with the traceback, the site and the worker go on.

- A strategy that raises in ``setup`` (called by ``__init__``) or ``on_bar``, or calls
  ``sys.exit()``, ends its run ``failed`` with the error and a traceback that names the user's
  file and line; the process (``run_backtest``, a real qcluster worker) runs the next backtest.
- A file that raises on import is listed as not loaded (``list_strategies``, the strategies
  API, the backtest page still served) and its strategies cannot be chosen.
- A file edited after start is imported again when strategies are listed or a run starts; a
  run whose file no longer imports fails with the import traceback.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from backtests.engine.registry import discover_user_code
from backtests.models import ACTIVE_STATUSES, Run, RunStatus
from backtests.services.backtest_spec import backtest_spec_from_mapping
from backtests.services.runs import run_create, run_execute
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.backtests.subprocesses import wait_for
from tests.backtests.worker_runs import run_state, submit, worker_pid, write_strategies

DBS = ["default", "secmaster"]

HEADER = """from backtests.engine.enums import BarPeriod, OrderType, TradeSide
from backtests.engine.strategies.base import ParamSpec, StrategyBase
"""
FAULTY = {
    "exploding.py": HEADER
    + """

class ExplodingOnBar(StrategyBase):
    parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}

    def setup(self):
        self.seen = 0

    def on_bar(self, bar):
        self.seen += 1
        if self.seen == 3:
            raise RuntimeError(f"boom at {bar.ts_event_ns}")
""",
    "bad_setup.py": HEADER
    + """

class BadSetup(StrategyBase):
    parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}

    def setup(self):
        self.table = {}["missing"]

    def on_bar(self, bar):
        pass
""",
    "quitter.py": HEADER
    + """
import sys


class Quitter(StrategyBase):
    parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}

    def on_bar(self, bar):
        sys.exit(3)
""",
}
# The statement that raises in each file (its line is looked up in the text written).
RAISING = {
    "exploding.py": 'raise RuntimeError(f"boom at {bar.ts_event_ns}")',
    "bad_setup.py": 'self.table = {}["missing"]',
    "quitter.py": "sys.exit(3)",
}


def flaky(name: str, body: str, *, broken: bool = False) -> str:
    """The Flaky strategy file; ``broken`` adds a typo on line 3 (NameError on import)."""
    typo = "helper = undefined_name\n" if broken else ""
    return (
        HEADER
        + typo
        + f"""

class Flaky(StrategyBase):
    name = "{name}"
    parameters = {{"bar_period": ParamSpec(default=BarPeriod.MINUTE)}}

    def setup(self):
        self.seen = 0

    def on_bar(self, bar):
        self.seen += 1
{body}
"""
    )


FLAKY_V1 = flaky("Flaky v1", "        pass")  # never trades
FLAKY_V2 = flaky(  # buys 1 on the first bar, filled at the second bar's open: one fill
    "Flaky v2",
    "        if self.seen == 1:\n"
    "            self.submit_order(OrderType.MARKET, TradeSide.BUY, 1.0)",
)
FLAKY_BROKEN = flaky("Flaky v1", "        pass", broken=True)
IMPORT_ERROR = "NameError: name 'undefined_name' is not defined"
IMPORT_ERRORS = {
    "raises_on_import.py": "raise RuntimeError('cannot load on purpose')\n",
    "exits_on_import.py": "import sys\nsys.exit('leaving on purpose')\n",
    "syntax.py": "def oops(:\n",
}


def _bars(count: int) -> list[tuple]:
    return minute_bars(38, "2024-01-02T14:30", count)


@pytest.fixture
def user_folder(tmp_path, settings):
    """A strategies folder used by this process (and, through the env, by workers); its
    files are forgotten afterwards so no strategy leaks into other tests."""
    folder = tmp_path / "strategies"
    folder.mkdir()
    settings.OST_STRATEGIES_DIR = folder
    settings.OST_INDICATORS_DIR = tmp_path / "no-indicators"
    yield folder
    for path in folder.glob("*.py"):
        path.unlink()
    discover_user_code(strategies_dir=folder, indicators_dir=None)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _run_command(*args: str) -> str:
    out = io.StringIO()
    call_command(
        "run_backtest",
        *args,
        "--symbols",
        "AAPL",
        "--bar-period",
        "MINUTE",
        stdout=out,
        stderr=io.StringIO(),
    )
    return out.getvalue()


def _line_of(path: Path, statement: str) -> int:
    (line,) = [i for i, text in enumerate(path.read_text().splitlines(), 1) if statement in text]
    return line


def _assert_points_at(traceback_text: str, path: Path, line: int, last_line: str) -> None:
    assert f'File "{path}", line {line}' in traceback_text
    assert traceback_text.rstrip().splitlines()[-1] == last_line


# --- in one process: run_backtest ---------------------------------------------------------


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize(
    ("file", "strategy", "error", "where"),
    [
        ("exploding.py", "ExplodingOnBar", "RuntimeError: boom at {ts}", "on_bar"),
        ("bad_setup.py", "BadSetup", "KeyError: 'missing'", "setup"),
        ("quitter.py", "Quitter", "SystemExit: 3", "on_bar"),
    ],
)
def test_strategy_raising_fails_its_run_and_the_next_run_completes(
    tmp_path, user_folder, file, strategy, error, where
):
    ingest_bars(tmp_path, bars=_bars(30), mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]})
    path = _write(user_folder, file, FAULTY[file])
    error = error.format(ts=_bars(30)[2][1])  # raised on the third bar

    with pytest.raises(CommandError) as err:
        _run_command("--strategy", strategy)

    failed = Run.objects.get()
    assert str(err.value) == f"run {failed.run_id} failed: {error}"
    assert failed.status == RunStatus.FAILED
    assert failed.metadata["error"] == error
    _assert_points_at(failed.metadata["traceback"], path, _line_of(path, RAISING[file]), error)
    assert f", in {where}\n" in failed.metadata["traceback"]

    # The same process goes on: a sound strategy runs to completion right after.
    last_line = _run_command("--strategy", "SMACrossover", "--param", "fast_period=5").split()[-1]
    assert Run.objects.get(run_id=last_line).status == RunStatus.COMPLETED


# --- files that do not import ---------------------------------------------------------------


@pytest.mark.django_db(databases=DBS)
def test_files_failing_to_import_are_listed_and_the_site_serves(user_folder, api_client):
    paths = {name: _write(user_folder, name, text) for name, text in IMPORT_ERRORS.items()}
    _write(user_folder, "flaky.py", FLAKY_V1)

    out, err = io.StringIO(), io.StringIO()
    call_command("list_strategies", stdout=out, stderr=err)
    assert "Flaky  (Flaky v1)" in out.getvalue()
    not_loaded = err.getvalue().splitlines()
    assert not_loaded[0] == (
        f"not loaded: {paths['exits_on_import.py']}: SystemExit: leaving on purpose"
    )
    assert not_loaded[1] == (
        f"not loaded: {paths['raises_on_import.py']}: RuntimeError: cannot load on purpose"
    )
    assert not_loaded[2].startswith(f"not loaded: {paths['syntax.py']}: SyntaxError: ")
    assert len(not_loaded) == 3

    body = api_client.get("/api/strategies").json()
    assert "Flaky" in [s["id"] for s in body["strategies"]]
    assert body["not_loaded"][:2] == [
        {
            "file": str(paths["exits_on_import.py"]),
            "error": "SystemExit: leaving on purpose",
            "strategies": [],
        },
        {
            "file": str(paths["raises_on_import.py"]),
            "error": "RuntimeError: cannot load on purpose",
            "strategies": [],
        },
    ]
    assert api_client.get("/backtest").status_code == 200
    assert api_client.get("/health").json() == {"status": "ok"}


@pytest.mark.django_db(databases=DBS)
def test_edited_file_is_imported_again_and_a_broken_edit_is_refused(
    tmp_path, user_folder, api_client
):
    publisher = ingest_bars(
        tmp_path, bars=_bars(30), mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]}
    )
    path = _write(user_folder, "flaky.py", FLAKY_V1)

    def listed() -> tuple[str | None, list]:
        """Flaky's name in the strategies list (None if absent), and the files not loaded."""
        body = api_client.get("/api/strategies").json()
        names = {s["id"]: s["name"] for s in body["strategies"]}
        assert names["SMACrossover"] == "SMA Crossover"  # the others are unaffected
        return names.get("Flaky"), body["not_loaded"]

    assert listed() == ("Flaky v1", [])
    path.write_text(FLAKY_V2)
    assert listed() == ("Flaky v2", [])

    path.write_text(FLAKY_BROKEN)
    error = IMPORT_ERROR
    assert listed() == (None, [{"file": str(path), "error": error, "strategies": ["Flaky"]}])
    # A run of it is refused before it is created, naming the file and the error.
    body = {"strategy": "Flaky", "symbols": ["AAPL"], "rtype": 33, "publisher_id": publisher}
    response = api_client.post("/api/backtest/run", body, format="json")
    message = f"strategy 'Flaky' is not loaded: {path} failed to import: {error}"
    assert response.status_code == 400
    assert response.json()["fields"] == {"strategy": message}
    with pytest.raises(CommandError) as err:
        _run_command("--strategy", "Flaky")
    assert str(err.value) == f"--strategy: {message}"
    assert not Run.objects.exists()

    path.write_text(FLAKY_V2)
    assert listed() == ("Flaky v2", [])


@pytest.mark.django_db(databases=DBS)
def test_run_whose_file_broke_after_submission_fails_with_the_import_traceback(
    tmp_path, user_folder
):
    publisher = ingest_bars(
        tmp_path, bars=_bars(30), mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]}
    )
    path = _write(user_folder, "flaky.py", FLAKY_V1)
    config = {"strategy": "Flaky", "symbols": ["AAPL"], "rtype": 33, "publisher_id": publisher}
    queued = run_create(spec=backtest_spec_from_mapping(config))
    path.write_text(FLAKY_BROKEN)

    run = run_execute(run_id=queued.run_id)

    error = IMPORT_ERROR
    assert run.status == RunStatus.FAILED
    assert run.metadata["error"] == (
        f"strategy 'Flaky' is not loaded: {path} failed to import: {error}"
    )
    _assert_points_at(run.metadata["traceback"], path, 3, error)
    assert "importlib" not in run.metadata["traceback"]


# --- a real worker --------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, databases=DBS)
def test_worker_survives_failing_strategies_and_reimports_edited_files(
    api_client, tmp_path, user_folder, start_cluster, settings
):
    settings.OST_STRATEGIES_DIR = user_folder  # the cluster fixtures set their own folder
    write_strategies(user_folder)  # SlowTestStrategy keeps the single worker busy below
    for name, text in {**FAULTY, **IMPORT_ERRORS, "flaky.py": FLAKY_V1}.items():
        _write(user_folder, name, text)
    flaky = user_folder / "flaky.py"
    publisher = ingest_bars(
        tmp_path,
        bars=minute_bars(38, "2024-01-02T00:00", 3000),
        mappings={"AAPL": [("2024-01-02", "2024-01-05", 38)]},
    )
    start_cluster(OST_STRATEGIES_DIR=str(user_folder), OST_INDICATORS_DIR=str(tmp_path / "none"))

    def run(strategy: str, **params) -> str:
        return submit(
            api_client,
            strategy=strategy,
            strategy_params=params,
            symbols=["AAPL"],
            rtype=33,
            publisher_id=publisher,
            record="trades",
        )

    def finished(run_id: str) -> Run:
        return wait_for(
            lambda: (r := run_state(run_id)).status not in ACTIVE_STATUSES and r,
            what=f"run {run_id} to finish",
        )

    exploded = finished(run("ExplodingOnBar"))
    assert exploded.status == RunStatus.FAILED
    assert exploded.metadata["error"].startswith("RuntimeError: boom at ")
    exploding = user_folder / "exploding.py"
    line = _line_of(exploding, RAISING["exploding.py"])
    _assert_points_at(exploded.metadata["traceback"], exploding, line, exploded.metadata["error"])
    quit_run = finished(run("Quitter"))
    assert (quit_run.status, quit_run.metadata["error"]) == (RunStatus.FAILED, "SystemExit: 3")
    flaky_v1 = finished(run("Flaky"))
    assert (flaky_v1.status, flaky_v1.metadata["fills"]) == (RunStatus.COMPLETED, 0)

    # Queue a Flaky run behind a slow one, break the file, then let the worker start it.
    slow = run("SlowTestStrategy", sleep_ms=5.0)
    wait_for(lambda: run_state(slow).status == RunStatus.RUNNING, what="the slow run to start")
    broken_run = run("Flaky")
    flaky.write_text(FLAKY_BROKEN)
    api_client.post(f"/api/backtest/{slow}/cancel")
    broken = finished(broken_run)
    error = IMPORT_ERROR
    assert broken.status == RunStatus.FAILED
    assert broken.metadata["error"] == (
        f"strategy 'Flaky' is not loaded: {flaky} failed to import: {error}"
    )
    _assert_points_at(broken.metadata["traceback"], flaky, 3, error)

    # Fixed again, in its second version (it buys): the same worker imports it once more.
    flaky.write_text(FLAKY_V2)
    fixed = finished(run("Flaky"))
    assert fixed.status == RunStatus.COMPLETED
    assert fixed.metadata["fills"] == 1  # bought on the first bar, filled at the second's open
    sma = finished(run("SMACrossover", fast_period=5, slow_period=10))
    assert sma.status == RunStatus.COMPLETED
    # One worker process executed every run: none of the faults stopped it.
    pids = {worker_pid(r) for r in (exploded, quit_run, flaky_v1, broken, fixed, sma)}
    assert len(pids) == 1 and pids != {os.getpid()}
