"""Fixtures of the API fuzz test: real data to fuzz against, a token, the loaded schema."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.authtoken.models import Token

from backtests.models import RunStatus
from backtests.results.selectors import roundtrips_for_run
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import run_create, run_execute
from secmaster.services.presets import preset_create
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.backtests.run_rows import run_row
from tests.fuzz.studies import study_fuzz_values
from tests.fuzz.walkforward import walkforward_fuzz_values

SYMBOLS = ("AAPL", "MSFT")
MAPPINGS = {"AAPL": [("2024-01-02", "2024-01-10", 10)], "MSFT": [("2024-01-02", "2024-01-10", 20)]}
PRESET_NAME = "Tech majors"
QUEUED_RUN_ID = "queued-run"
USER_PASSWORD = "correct-horse-42"  # the ``user`` fixture's (tests/conftest.py)


@dataclass(frozen=True)
class FuzzData:
    """Ids and values that exist in the database, for the fuzzer to mix into its cases."""

    publisher_id: int
    completed_run_id: str
    queued_run_id: str
    preset_name: str
    trade: dict  # one round trip of the completed run, as the API lists it
    other_run_id: str  # a second completed run (other parameters), to compare with
    username: str
    auth_header: str
    studies: dict = field(default_factory=dict)  # tests/fuzz/studies.py
    walkforwards: dict = field(default_factory=dict)  # tests/fuzz/walkforward.py


@pytest.fixture
def fuzz_data(tmp_path, user) -> FuzzData:
    """Two symbols of minute bars ingested from real DBN bytes, a completed SMA-crossover run
    with fills and round trips, a queued run, a preset and the user's API token."""
    bars = minute_bars(10, "2024-01-02T14:30", 240) + minute_bars(
        20, "2024-01-02T14:30", 240, base=60
    )
    publisher_id = ingest_bars(tmp_path, bars=bars, mappings=MAPPINGS)
    spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"bar_period": "MINUTE", "fast_period": 5, "slow_period": 10},
        symbols=list(SYMBOLS),
        rtype=33,
        publisher_id=publisher_id,
    )
    # Everything is the fuzzing user's, so that cancels, updates and deletes can succeed.
    run = run_execute(run_id=run_create(spec=spec, name="fuzz", owner=user).run_id)
    assert run.status == RunStatus.COMPLETED, run.metadata
    trades = roundtrips_for_run(run.run_id)
    assert trades, "the fuzz run must have round trips"
    other_spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"bar_period": "MINUTE", "fast_period": 8, "slow_period": 20},
        symbols=list(SYMBOLS),
        rtype=33,
        publisher_id=publisher_id,
        capital=50_000,
    )
    other = run_execute(run_id=run_create(spec=other_spec, name="fuzz other", owner=user).run_id)
    assert other.status == RunStatus.COMPLETED, other.metadata
    run_row(QUEUED_RUN_ID, status=RunStatus.QUEUED, symbols=SYMBOLS, owner=user)
    preset_create(name=PRESET_NAME, symbols=list(SYMBOLS), owner=user)
    assert user.check_password(USER_PASSWORD)
    return FuzzData(
        publisher_id=publisher_id,
        completed_run_id=run.run_id,
        queued_run_id=QUEUED_RUN_ID,
        preset_name=PRESET_NAME,
        trade=trades[0],
        other_run_id=other.run_id,
        username=user.username,
        auth_header=f"Token {Token.objects.create(user=user).key}",
        studies=study_fuzz_values(publisher_id, SYMBOLS),
        walkforwards=walkforward_fuzz_values(publisher_id, SYMBOLS, user),
    )


@pytest.fixture
def quiet_client_errors(wsgi_app) -> Iterator[None]:
    """Hundreds of 4xx answers are expected; Django logs only server errors meanwhile."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@pytest.fixture
def wsgi_app() -> Iterator[object]:
    """The project's WSGI application, called in-process inside the test's transaction.

    Django closes "old" connections at the start and end of every request; inside a test
    transaction that would drop it, so the two signal handlers are detached meanwhile, as
    Django's own test client does.
    """
    from ostsite.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app, quiet_client_errors, fuzz_data):
    """The OpenAPI schema as the site serves it at /api/schema/."""
    return schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", wsgi_app, headers={"Authorization": fuzz_data.auth_header}
    )
