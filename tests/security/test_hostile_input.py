"""Strategy ids, parameter names and symbols from users are data, never code or SQL.

Strategy ids are only looked up in the registry dict, parameter names only in the
strategy's ParamSpecs, symbols only sent as bound query parameters. Each hostile value,
through the API, the run_backtest command and the backtest page, is refused with a message
naming the field, and Python's audit hooks show nothing was imported, compiled, executed,
opened or started while it was handled (after a harmless wrong value warmed the same path).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from backtests.engine.enums import BarPeriod
from backtests.engine.strategies.base import ParamSpec, StrategyBase, _strategy_classes
from backtests.models import Run
from secmaster.models import OhlcvBar, SymbolCoverage
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.security.audit import recording, traces_of

DATABASES = ["default", "secmaster"]
pytestmark = pytest.mark.django_db(databases=DATABASES)

BUILT_IN = ("BollingerReversion", "RSITrailingStop", "SMACrossover")
LONG = "A" * 100_000

# Would resolve if ids reached import, eval or getattr (on a module, class or builtins).
HOSTILE_STRATEGIES = [
    "__import__('os').system('touch /tmp/ost-pwned')",
    "os.system",
    "os",
    "../../etc/passwd",
    "/etc/passwd",
    "StrategyBase",  # the base class, importable from the strategies package
    "ParamSpec",
    "SMA",  # an indicator class
    "BarPeriod",
    "Run",  # a model
    "object",
    "type",
    "__class__",
    "__builtins__",
    "__init__",
    "SMACrossover.__init__",
    "backtests.engine.strategies.examples.sma_crossover.SMACrossover",
    "backtests.engine.strategies.examples:SMACrossover",
    "smacrossover",
    " SMACrossover",
    "SMACrossover\x00",
    "{0.__class__.__mro__}",
    "x'; DROP TABLE runs;--",
    LONG,
]
# Attributes every strategy has: getattr on the class would find them; the ParamSpecs don't.
HOSTILE_PARAM_NAMES = [
    "__class__",
    "__dict__",
    "__init__",
    "__init_subclass__",
    "setup",
    "on_bar",
    "submit_order",
    "resolve_params",
    "parameters",
    "params",
    "symbols",
    "position",
    "bar",
    "name",
    "fast_period.__class__",
    "__import__('os').system('x')",
    "os.system",
    "../../etc/passwd",
    "fast_period\x00",
    "FAST_PERIOD",
    "fast_period ",
    LONG,
]
HOSTILE_PARAM_VALUES = [
    ("fast_period", "__import__('os').system('x')", "expected an integer"),
    ("fast_period", "20; import os", "expected an integer"),
    ("fast_period", {"__class__": 20}, "expected an integer"),
    ("fast_period", [20], "expected an integer"),
    ("quantity", "nan", "expected a finite number"),
    ("quantity", "1e400", "expected a finite number"),
    ("slow_period", 10**30, "must be between 10 and 500"),
]
# SQL that would change the answer or the tables if it were spliced into a query, and LIKE
# wildcards that would match AAPL if the lookup were a pattern.
HOSTILE_SYMBOLS = [
    "x'; DROP TABLE ohlcv;--",
    "AAPL' OR '1'='1",
    'AAPL" OR "1"="1',
    "AAPL'--",
    "AAPL; DELETE FROM symbol_coverage",
    "A%",
    "_APL",
    "%",
    "*",
    "../../etc/passwd",
    "__import__('os').system('x')",
    LONG,
]


@pytest.fixture(autouse=True)
def no_user_code(settings, tmp_path_factory) -> None:
    """Empty strategy and indicator folders: only the built-in strategies are registered,
    and reading user files (which validation may do) does not show up as file access."""
    empty = tmp_path_factory.mktemp("no-user-code")
    settings.OST_STRATEGIES_DIR = empty
    settings.OST_INDICATORS_DIR = empty


@pytest.fixture
def labelled_strategy() -> Iterator[str]:
    """A registered strategy with a string parameter, as a user file could define."""

    class LabelledStrategy(StrategyBase):
        parameters = {
            "bar_period": ParamSpec(default=BarPeriod.MINUTE),
            "label": ParamSpec(default="plain"),
        }

        def on_bar(self, bar) -> None:
            pass

    try:
        yield "LabelledStrategy"
    finally:
        _strategy_classes.pop("LabelledStrategy", None)


@pytest.fixture
def publisher_id(tmp_path) -> int:
    """60 one-minute AAPL bars on 2024-01-02."""
    return ingest_bars(
        tmp_path,
        bars=minute_bars(38, "2024-01-02T14:30", 60),
        mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]},
    )


@pytest.fixture
def body(publisher_id) -> dict:
    return {
        "strategy": "SMACrossover",
        "strategy_params": {"fast_period": 5, "slow_period": 10},
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": publisher_id,
    }


def _submit(api_client, body: dict, **change):
    return api_client.post("/api/backtest/run", {**body, **change}, format="json")


@contextlib.contextmanager
def _never_code(*values: str) -> Iterator[None]:
    """Fail if the block compiles, imports or opens any of ``values``, or starts a process."""
    with recording() as events:
        yield
    for value in values:
        assert traces_of(value, events) == [], f"{value!r} reached dynamic code or a file"


@contextlib.contextmanager
def _sql_seen() -> Iterator[list[tuple[str, tuple]]]:
    """(SQL text, bound parameters) of every query on both databases inside the block."""
    seen: list[tuple[str, tuple]] = []

    def wrapper(execute, sql, params, many, context):
        seen.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)

    with contextlib.ExitStack() as stack:
        for alias in DATABASES:
            stack.enter_context(connections[alias].execute_wrapper(wrapper))
        yield seen


def _tables_and_rows() -> dict:
    return {
        alias: sorted(connections[alias].introspection.table_names()) for alias in DATABASES
    } | {"ohlcv": OhlcvBar.objects.count(), "coverage": SymbolCoverage.objects.count()}


def test_audit_recorder_sees_what_it_guards_against(tmp_path):
    """The absence of traces below means something: the hook does see these."""
    code, module, path = "1 + 1  # ost-probe", "ost_no_such_module", str(tmp_path / "ost-probe")
    with recording() as events:
        eval(code)
        with contextlib.suppress(ImportError):
            __import__(module)
        with contextlib.suppress(OSError), open(path):
            pass
    assert [name for name, _ in traces_of(code, events)] == ["compile"]
    assert [name for name, _ in traces_of(module, events)] == ["import"]
    assert [name for name, _ in traces_of(path, events)] == ["open"]


# --- strategy ids ----------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE_STRATEGIES, ids=lambda v: repr(v[:40]))
def test_api_refuses_hostile_strategy_id_naming_the_field(api_client, body, hostile):
    assert _submit(api_client, body, strategy="NoSuchStrategy").status_code == 400
    with _never_code(hostile):
        response = _submit(api_client, body, strategy=hostile)
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert list(fields) == ["strategy"]
    assert fields["strategy"].startswith(f"unknown strategy {hostile!r}; known: ")
    assert all(name in fields["strategy"] for name in BUILT_IN)
    assert not Run.objects.exists()


@pytest.mark.parametrize("hostile", HOSTILE_STRATEGIES[:-1], ids=lambda v: repr(v[:40]))
def test_strategy_detail_api_answers_404_for_hostile_id(api_client, hostile):
    url = "/api/strategies/" + hostile.replace("\x00", "%00").replace("/", "%2F")
    assert api_client.get("/api/strategies/NoSuchStrategy").status_code == 404
    assert api_client.get("/api/strategies/no/such").status_code == 404  # unrouted
    with _never_code(hostile):
        response = api_client.get(url)
    assert response.status_code == 404


def test_known_strategy_ids_are_exactly_the_registered_classes(api_client):
    """What the API offers and accepts is the registry, nothing reachable by name."""
    ids = [s["id"] for s in api_client.get("/api/strategies").json()["strategies"]]
    assert set(BUILT_IN) <= set(ids)
    assert {"StrategyBase", "object", "SMA", "ParamSpec"}.isdisjoint(ids)


# --- parameter names and values --------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE_PARAM_NAMES, ids=lambda v: repr(v[:40]))
def test_api_refuses_parameter_name_not_in_paramspecs(api_client, body, hostile):
    assert _submit(api_client, body, strategy_params={"no_such": 1}).status_code == 400
    with _never_code(hostile):
        response = _submit(api_client, body, strategy_params={hostile: 1})
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert list(fields) == ["strategy_params"]
    expected = (
        f"unknown parameter {hostile!r}; known: bar_period, fast_period, slow_period, quantity"
    )
    assert fields["strategy_params"] == f"{hostile}: {expected}"
    assert not Run.objects.exists()


@pytest.mark.parametrize(("name", "value", "reason"), HOSTILE_PARAM_VALUES)
def test_api_refuses_parameter_value_of_wrong_type_or_range(api_client, body, name, value, reason):
    assert _submit(api_client, body, strategy_params={name: "x"}).status_code == 400
    with _never_code(str(value)):
        response = _submit(api_client, body, strategy_params={name: value})
    assert response.status_code == 400
    message = response.json()["fields"]["strategy_params"]
    assert message.startswith(f"{name}: {reason}")
    assert not Run.objects.exists()


def test_string_parameter_with_nul_byte_is_refused_before_the_run_is_stored(
    api_client, body, labelled_strategy
):
    """PostgreSQL cannot store NUL in the run's JSON config: refused up front, never a 500."""
    hostile = {"strategy": labelled_strategy, "strategy_params": {"label": "a\x00b"}}
    response = _submit(api_client, body, **hostile)
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "strategy_params": "label: expected a string without NUL characters, got 'a\\x00b'"
    }
    assert not Run.objects.exists()
    fine = {"strategy": labelled_strategy, "strategy_params": {"label": "a'; DROP TABLE runs;--"}}
    accepted = _submit(api_client, body, **fine)
    assert accepted.status_code == 200
    stored = Run.objects.get(run_id=accepted.json()["run_id"]).config["strategy_params"]
    assert stored["label"] == "a'; DROP TABLE runs;--"


# --- symbols ---------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE_SYMBOLS, ids=lambda v: repr(v[:40]))
def test_api_refuses_hostile_symbol_sent_only_as_bound_parameter(api_client, body, hostile):
    before = _tables_and_rows()
    with _sql_seen() as harmless:
        assert _submit(api_client, body, symbols=["AAPL", "NOSUCH"]).status_code == 400
    with _never_code(hostile), _sql_seen() as queries:
        response = _submit(api_client, body, symbols=["AAPL", hostile])
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert fields == {"symbols": f"no MINUTE bars of databento/XNAS.ITCH for: {hostile}"}
    # The same SQL text as for a plain unknown symbol; the value travels as a parameter.
    assert [sql for sql, _ in queries] == [sql for sql, _ in harmless]
    assert any(hostile in params for _, params in queries)
    assert _tables_and_rows() == before
    assert not Run.objects.exists()


def test_api_refuses_symbol_with_nul_byte_before_any_query(api_client, body):
    with _sql_seen() as queries:
        response = _submit(api_client, body, symbols=["AAPL\x00"])
    assert response.status_code == 400
    assert response.json()["fields"]["symbols"] == "symbol #1 is not a non-empty string"
    assert not any("AAPL\x00" in params for _, params in queries)


@pytest.mark.parametrize("hostile", HOSTILE_SYMBOLS[:4], ids=repr)
def test_run_charts_and_tables_answer_404_for_hostile_symbol(api_client, body, hostile):
    from tests.backtests.run_rows import run_with_one_trade

    run_with_one_trade("r1")
    before = _tables_and_rows()
    for route in ("roundtrips", "metrics", "equity.png", "trade-journey.png"):
        response = api_client.get(f"/api/runs/r1/{route}", {"symbol": hostile})
        assert response.status_code == 404, route
        assert hostile in response.json()["error"]
    assert _tables_and_rows() == before


# --- the run_backtest command ----------------------------------------------------------


def _command(*args: str) -> None:
    call_command("run_backtest", *args, stdout=io.StringIO(), stderr=io.StringIO())


BASE = ["--bar-period", "MINUTE", "--start", "2024-01-02", "--end", "2024-01-02"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--strategy", "__import__('os').system('x')", "--symbols", "AAPL"],
            "--strategy: unknown strategy \"__import__('os').system('x')\"; known: ",
        ),
        (
            ["--strategy", "StrategyBase", "--symbols", "AAPL"],
            "--strategy: unknown strategy 'StrategyBase'; known: ",
        ),
        (
            ["--strategy", "../../etc/passwd", "--symbols", "AAPL"],
            "--strategy: unknown strategy '../../etc/passwd'; known: ",
        ),
        (
            ["--strategy", "SMACrossover", "--symbols", "AAPL", "--param", "__class__=1"],
            "--param: __class__: unknown parameter '__class__'; known: ",
        ),
        (
            ["--strategy", "SMACrossover", "--symbols", "AAPL", "--param", "on_bar=1"],
            "--param: on_bar: unknown parameter 'on_bar'; known: ",
        ),
        (
            ["--strategy", "SMACrossover", "--symbols", "AAPL", "--param", "fast_period=os"],
            "--param: fast_period: expected an integer, got 'os'",
        ),
        (
            ["--strategy", "SMACrossover", "--symbols", "x'; DROP TABLE ohlcv;--"],
            "--symbols/--preset: no MINUTE bars of databento/XNAS.ITCH for: "
            "x'; DROP TABLE ohlcv;--",
        ),
        (
            ["--strategy", "SMACrossover", "--preset", "x'; DROP TABLE symbol_presets;--"],
            '--preset: Preset not found: "x\'; DROP TABLE symbol_presets;--"',
        ),
    ],
)
def test_run_backtest_command_refuses_hostile_values_naming_the_option(publisher_id, args, message):
    before = _tables_and_rows()
    with pytest.raises(CommandError):  # the same error path, warmed with a harmless value
        _command(*BASE, "--strategy", "NoSuchStrategy", "--symbols", "NOSUCH")
    with _never_code(*args), pytest.raises(CommandError) as refused:
        _command(*BASE, *args)
    assert str(refused.value).startswith(message)
    assert _tables_and_rows() == before
    assert not Run.objects.exists()


def test_run_backtest_command_refuses_hostile_bar_period(publisher_id):
    with pytest.raises(CommandError) as refused:
        _command("--strategy", "SMACrossover", "--symbols", "AAPL", "--bar-period", "__class__")
    assert str(refused.value) == (
        "--bar-period must be one of SECOND, MINUTE, HOUR, DAY, got '__class__'"
    )


# --- the backtest page -----------------------------------------------------------------


def test_backtest_page_ignores_and_never_echoes_hostile_query_values(api_client):
    hostile = "<script>alert(1)</script>__import__('os')"
    plain = api_client.get("/backtest")
    response = api_client.get(
        "/backtest", {"strategy": hostile, "symbols": hostile, "fast_period": hostile}
    )
    assert response.status_code == 200
    assert b"<script>alert(1)</script>" not in response.content
    assert b"__import__" not in response.content
    # The page is a fixed shell: the query changes nothing but the CSRF token.
    strip = [line for line in plain.content.splitlines() if b"csrf" not in line.lower()]
    assert [line for line in response.content.splitlines() if b"csrf" not in line.lower()] == strip


def test_backtest_page_takes_no_posted_values(api_client):
    assert api_client.post("/backtest", {"strategy": "os.system"}).status_code == 405
