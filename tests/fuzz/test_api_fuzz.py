"""Schemathesis fuzzes every operation of the OpenAPI schema at /api/schema/, logged in.

Cases are generated from the schema, valid inputs and invalid ones. About half of them have
some of their path, query and body values replaced by ones that exist (the completed run, a
queued run, the preset, the publisher, a strategy, a traded symbol, one real round trip's
chart query, a valid backtest request, the user's credentials), so the happy paths run too;
the rest keep random ones. Every answer must be a non-5xx status that the schema documents
for the operation, with the documented content type and headers and a body that matches the
documented schema; an operation that needs a login must refuse a request without one.

Each case runs in a savepoint that is rolled back, so every case sees the same data.
Generation is derandomized and Hypothesis keeps no example database: a run is reproducible.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.hooks import HookContext, HookDispatcher, HookScope

from tests.conftest import ALL_DATABASES
from tests.fuzz.conftest import SYMBOLS, USER_PASSWORD, FuzzData

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

EXAMPLES_PER_OPERATION_AND_MODE = 5  # 150 for a deeper local run (about 30x longer)
MIN_TOTAL_CASES = 400
MAX_RANDOM_FIELDS = 2  # a case with known values keeps at most this many generated ones
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)


@contextmanager
def rolled_back() -> Iterator[None]:
    """Whatever the request writes is undone, on every database."""
    with transaction.atomic(using="default"), transaction.atomic(using="secmaster"):
        yield
        for alias in ALL_DATABASES:
            transaction.set_rollback(True, using=alias)


def nested(depth: int, leaf: Any = 1) -> Any:
    """``leaf`` inside ``depth`` levels of alternating lists and objects."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


# Values that once got a 500 or were wrongly accepted (issue 12, item 4), for any field: digits
# that are not ASCII, dates Python parses but nobody means, numbers beyond 64 bits or any
# float, NUL and (bodies only) deep nesting. Lone surrogates cannot travel through the
# fuzzer (it encodes bodies as UTF-8); test_fuzz_findings.py sends them as raw JSON.
HOSTILE_TEXT = [
    "²",
    "³³",
    "١",
    "٣٣",
    "１２",  # fullwidth digits
    "1" * 5000,
    "-" + "9" * 30,
    "2024-W01-1",
    "9999-12-31",
    "0001-01-01",
    "20240102",
    "\x00",
    "a\x00b",
]
HOSTILE_NUMBERS = [10**400, -(10**30), 2**63, 2**64, 1e308, -1e308]
HOSTILE_BODY_ONLY = [
    {"fast_period": "٥", "slow_period": 10},
    {"quantity": "١"},
    {"fast_period": 10**400},
    nested(40),
    [nested(20), nested(30)],
]
HOSTILE_QUERY = HOSTILE_TEXT + [str(number) for number in HOSTILE_NUMBERS]
HOSTILE_BODY = HOSTILE_TEXT + HOSTILE_NUMBERS + HOSTILE_BODY_ONLY


def with_known_values(
    values: Any, known: dict[str, list], hostile: list[Any] | None = None
) -> st.SearchStrategy:
    """``values`` with all but a few of its known keys set to known values, or as generated;
    with ``hostile``, also the known values with one field set to a hostile value.

    The known branch comes first: it is the one Hypothesis tries most, and shrinks towards.
    """
    if not isinstance(values, dict):
        return st.just(values)
    swappable = sorted(key for key in values if key in known)
    if not swappable and not (hostile and values):
        return st.just(values)

    def overlay(random_keys: set[str], picks: dict[str, Any]) -> dict[str, Any]:
        return {**values, **{k: v for k, v in picks.items() if k not in random_keys}}

    def spoiled(picks: dict[str, Any], key: str, bad: Any) -> dict[str, Any]:
        return {**values, **picks, key: bad}

    picks = st.fixed_dictionaries({key: st.sampled_from(known[key]) for key in swappable})
    branches = [st.just(values)]
    if swappable:
        random_keys = st.sets(
            st.sampled_from(swappable), max_size=min(MAX_RANDOM_FIELDS, len(swappable) - 1)
        )
        branches.insert(0, st.builds(overlay, random_keys, picks))
    if hostile:
        fields = sorted({*values, *swappable})
        branches.append(
            st.builds(spoiled, picks, st.sampled_from(fields), st.sampled_from(hostile))
        )
    return st.one_of(branches)


def known_values(data: FuzzData) -> tuple[dict[str, list], dict[str, list], dict]:
    """Existing ids and valid values: for path parameters, query parameters and, per
    operation, body fields (the first value of each is valid with the others' first)."""
    trade = data.trade
    path_values = {
        "run_id": [data.completed_run_id, data.queued_run_id],
        "name": [data.preset_name, "databento"],
        "strategy_id": ["SMACrossover"],
        "file": ["fills.csv", "roundtrips.parquet", "metrics.csv", "order_submissions.parquet"],
    }
    compared = f"{data.completed_run_id},{data.other_run_id}"
    query_values = {
        "run_ids": [compared, f"{compared},{data.queued_run_id}", f"{compared},no-such-run"],
        "format": ["csv", "parquet"],
        "points": [2, 500],
        "symbol": [trade["symbol"], *SYMBOLS],
        "start_ns": [trade["entry_ts"]],
        "end_ns": [trade["exit_ts"]],
        "direction": [trade["direction"]],
        "pnl": [trade["pnl_after_commission"]],
        "publisher_id": [data.publisher_id],
        "rtype": [33],
        "limit": [1, 50],
        "context": [0, 20],  # bars around a chart-data window
    }
    backtest_body = {
        "strategy": ["SMACrossover"],
        "strategy_params": [{"bar_period": "MINUTE", "fast_period": 5, "slow_period": 10}],
        "symbols": [list(SYMBOLS), [SYMBOLS[0]]],
        "rtype": [33],
        "publisher_id": [data.publisher_id],
        "start_date": ["2024-01-02", "1990-01-01", None],
        "end_date": ["2024-01-02", "2030-12-31", None],
        "record": ["full", "trades"],
        "fill_timing": ["next_bar", "same_bar"],
        "commission_per_unit": [0.005],
        "minimum_commission": [1.0],
        "name": ["fuzzed run"],
    }
    body_values = {
        ("POST", "/api/backtest/run"): backtest_body,
        ("POST", "/api/backtest/validate"): backtest_body,
        ("POST", "/api/presets"): {
            "name": [data.preset_name, "Another preset"],
            "symbols": [list(SYMBOLS)],
        },
        ("PUT", "/api/presets/{name}"): {"name": [data.preset_name], "symbols": [[SYMBOLS[1]]]},
        ("POST", "/api/auth/token"): {"username": [data.username], "password": [USER_PASSWORD]},
        ("DELETE", "/api/runs"): {
            "run_ids": [[data.completed_run_id], [data.queued_run_id, "no-such-run"]]
        },
    }

    studies = data.studies  # the studies' operations (tests/fuzz/studies.py)
    path_values.update(studies.get("path", {}))
    query_values.update(studies.get("query", {}))
    body_values.update(studies.get("body", {}))
    walkforwards = data.walkforwards  # tests/fuzz/walkforward.py
    path_values.update(walkforwards.get("path", {}))
    query_values.update(walkforwards.get("query", {}))
    body_values.update(walkforwards.get("body", {}))
    return path_values, query_values, body_values


def known_values_hooks(data: FuzzData) -> HookDispatcher:
    """Hooks that put existing ids and valid values into generated cases (see the docstring)."""
    path_values, query_values, body_values = known_values(data)

    def flatmap_path_parameters(context: HookContext, path_parameters: Any) -> Any:
        return with_known_values(path_parameters, path_values)

    def flatmap_query(context: HookContext, query: Any) -> Any:
        return with_known_values(query, query_values, HOSTILE_QUERY)

    def flatmap_body(context: HookContext, body: Any) -> Any:
        operation = context.operation
        known = body_values.get((operation.method.upper(), operation.path), {})
        return with_known_values(body, known, HOSTILE_BODY)

    hooks = HookDispatcher(scope=HookScope.TEST)
    for hook in (flatmap_path_parameters, flatmap_query, flatmap_body):
        hooks.register_hook_with_name(hook, hook.__name__)
    return hooks


def fuzz_operation(
    operation: Any, mode: GenerationMode, hooks: HookDispatcher, check: Callable[[Any], None]
) -> None:
    """Generate cases of ``operation`` in ``mode`` and ``check`` each (Hypothesis settings)."""

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode, hooks=hooks))
    def each_case(case: Any) -> None:
        check(case)

    each_case()


def operation_labels(api_schema: Any) -> set[str]:
    return {result.ok().label for result in api_schema.get_all_operations()}


def test_every_api_operation_answers_as_documented(api_schema, fuzz_data):
    hooks = known_values_hooks(fuzz_data)
    headers = {"Authorization": fuzz_data.auth_header}
    cases: Counter[str] = Counter()
    statuses: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []

    started = time.perf_counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        label = operation.label

        def check(case: Any, label: str = label) -> None:
            with rolled_back():
                response = case.call_and_validate(headers=headers, checks=CHECKS)
            cases[label] += 1
            statuses[label, response.status_code] += 1

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            before = cases[label]
            try:
                fuzz_operation(operation, mode, hooks, check)
            except Unsatisfiable:
                # Only path strings (any text is valid) and no query or body: nothing to break.
                if cases[label] > before:
                    raise
            except (Exception, FailureGroup) as exc:
                failures.append(f"{label} [{mode.value}]: {exc}")
    elapsed = time.perf_counter() - started

    for label in sorted(cases):
        answers = ", ".join(
            f"{code}x{n}" for (name, code), n in sorted(statuses.items()) if name == label
        )
        print(f"{cases[label]:5d}  {label}  ({answers})")
    total = sum(cases.values())
    print(f"{total} cases over {len(cases)} operations in {elapsed:.1f} s")
    assert not failures, "\n\n".join(failures)
    assert set(cases) == operation_labels(api_schema)
    assert total >= MIN_TOTAL_CASES


def test_every_api_operation_answers_boundary_cases_as_documented(api_schema, fuzz_data):
    """Schemathesis's coverage phase: a fixed list of edge cases per operation (boundary
    numbers, missing or wrongly typed parameters and body fields, other methods and media
    types), each sent as generated and again with the known ids in its path."""
    headers = {"Authorization": fuzz_data.auth_header}
    known_path = {
        "run_id": fuzz_data.completed_run_id,
        "name": fuzz_data.preset_name,
        "strategy_id": "SMACrossover",
        "file": "fills.csv",
        **fuzz_data.studies.get("known_path", {}),
        **fuzz_data.walkforwards.get("known_path", {}),
    }
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    cases: Counter[str] = Counter()
    failures: list[str] = []

    for result in api_schema.get_all_operations():
        operation = result.ok()
        for case in api_schema.iter_coverage_cases(
            operation, generation_modes=modes, generation_config=api_schema.config.generation
        ):
            variants = [dict(case.path_parameters or {})]
            if set(variants[0]) & set(known_path):
                variants.append({**variants[0], **known_path})
            for path_parameters in variants:
                case.path_parameters = path_parameters
                try:
                    with rolled_back():
                        case.call_and_validate(headers=headers, checks=CHECKS)
                except (Exception, FailureGroup) as exc:
                    failures.append(f"{operation.label}: {exc}")
                cases[operation.label] += 1

    for label in sorted(cases):
        print(f"{cases[label]:5d}  {label}")
    print(f"{sum(cases.values())} boundary cases over {len(cases)} operations")
    assert not failures, "\n\n".join(failures)
    assert set(cases) == operation_labels(api_schema)


# --- every field, every hostile value ---------------------------------------------------------

PLACEHOLDER = "@@hostile@@"
DEEP = 10_000
# One value of each kind above (for every field, so the matrix stays cheap): a digit int()
# refuses, one it takes, 5,000 digits, a week date, year 9999, NUL, numbers beyond 64 bits and
# near the float limit, a parameter in other digits, nesting 40 deep.
MATRIX_TEXT = ["²", "١", "1" * 5000, "2024-W01-1", "9999-12-31", "a\x00b"]
MATRIX_NUMBERS = [10**400, 2**63, 1e308]
MATRIX_QUERY = MATRIX_TEXT + [str(number) for number in MATRIX_NUMBERS]
# Raw JSON texts: json.dumps escapes lone surrogates as \\udXXX, so they travel as a client
# would send them; nesting 10,000 deep is written out (json.dumps itself would recurse).
HOSTILE_JSON = [
    *(json.dumps(value) for value in MATRIX_TEXT + MATRIX_NUMBERS),
    json.dumps({"fast_period": "٥", "slow_period": 10}),
    json.dumps(nested(40)),
    json.dumps("a\udfffb"),
    json.dumps({"\ud800": 1}),
    "[" * DEEP + "]" * DEEP,
]
HOSTILE_WHOLE_BODIES = ["[" * DEEP + "]" * DEEP, '{"x": ' + "{" * DEEP + "}" * DEEP + "}"]


def spoiled_body(known: dict[str, list], field: str, raw: str) -> bytes:
    """The first known value of every field, with ``field`` set to the raw JSON ``raw``."""
    body = {key: values[0] for key, values in known.items()} | {field: PLACEHOLDER}
    return json.dumps(body).replace(json.dumps(PLACEHOLDER), raw).encode()


def test_every_field_refuses_hostile_values_as_documented(api_schema, fuzz_data):
    """Each body field and query parameter of every operation, with every other value valid,
    gets each hostile value in turn (lone surrogates and 10,000-deep nesting included): the
    answer must be documented and never a 5xx."""
    headers = {"Authorization": fuzz_data.auth_header}
    path_values, query_values, body_values = known_values(fuzz_data)
    cases: Counter[str] = Counter()
    failures: list[str] = []

    def check(operation: Any, **kwargs: Any) -> None:
        path = {p.name: path_values[p.name][0] for p in operation.path_parameters}
        case = operation.Case(path_parameters=path, **kwargs)
        try:
            with rolled_back():
                case.call_and_validate(headers=headers, checks=CHECKS)
        except (Exception, FailureGroup) as exc:
            failures.append(f"{operation.label} {kwargs}: {exc}"[:2000])
        cases[operation.label] += 1

    for result in api_schema.get_all_operations():
        operation = result.ok()
        known = body_values.get((operation.method.upper(), operation.path))
        if known:
            json_body = {"media_type": "application/json"}
            for field in known:
                for raw in HOSTILE_JSON:
                    check(operation, body=spoiled_body(known, field, raw), **json_body)
            for raw in HOSTILE_WHOLE_BODIES:
                check(operation, body=raw.encode(), **json_body)
        names = [parameter.name for parameter in operation.query]
        valid = {name: query_values[name][0] for name in names if name in query_values}
        for name in names:
            for value in MATRIX_QUERY:
                check(operation, query={**valid, name: value})

    print(f"{sum(cases.values())} hostile cases over {len(cases)} operations")
    assert not failures, "\n\n".join(failures)
    assert len(cases) >= 15
