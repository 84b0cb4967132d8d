"""``manage.py run_backtest`` and ``manage.py list_strategies``."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from backtests.models import Fill, RecordedBar, Run
from secmaster.models import SymbolPreset
from tests.backtests.market_data import ingest_bars, minute_bars

DBS = ["default", "secmaster"]
MAPPINGS = {"AAPL": [("2024-01-02", "2024-01-10", 10)], "MSFT": [("2024-01-02", "2024-01-10", 20)]}
BASE = [
    "--strategy",
    "SMACrossover",
    "--bar-period",
    "MINUTE",
    "--param",
    "fast_period=5",
    "--param",
    "slow_period=10",
]


@pytest.fixture
def data(tmp_path) -> int:
    bars = minute_bars(10, "2024-01-02T14:30", 200) + minute_bars(
        20, "2024-01-02T14:30", 200, base=60
    )
    return ingest_bars(tmp_path, bars=bars, mappings=MAPPINGS)


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command("run_backtest", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db(databases=DBS)
def test_run_backtest_valid_arguments_print_run_id_and_summary(data):
    output = _call(
        *BASE,
        "--symbols",
        "AAPL,MSFT",
        "--start",
        "2024-01-02",
        "--end",
        "2024-01-02",
        "--commission-per-unit",
        "0.01",
    )

    run = Run.objects.get()
    assert run.status == "completed"
    assert output.splitlines()[-1] == run.run_id
    fills = Fill.objects.filter(run_id=run.run_id).count()
    assert (
        f"run {run.run_id} completed: bars 400, orders {run.metadata['orders']}, fills {fills}, "
        in output
    )
    assert "net P&L" in output and "bars/s" in output
    assert run.config["commission_per_unit"] == 0.01
    assert RecordedBar.objects.filter(run_id=run.run_id).count() == 400


@pytest.mark.django_db(databases=DBS)
def test_run_backtest_preset_and_trades_level_record_no_bars(data):
    SymbolPreset.objects.create(name="tech", symbols=["MSFT"])

    _call(*BASE, "--preset", "tech", "--record", "trades", "--publisher", "databento")

    run = Run.objects.get()
    assert (run.status, run.config["symbols"], run.config["record"]) == (
        "completed",
        ["MSFT"],
        "trades",
    )
    assert run.metadata["bars"] == 200
    assert RecordedBar.objects.filter(run_id=run.run_id).count() == 0


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--strategy", "Nope", "--symbols", "AAPL"],
            "--strategy: unknown strategy 'Nope'; known: ",
        ),
        (["--strategy", "SMACrossover"], "give the symbols with --symbols A,B,C or --preset NAME"),
        ([*BASE, "--symbols", "AAPL", "--preset", "x"], "give the symbols with --symbols"),
        ([*BASE, "--preset", "missing"], "--preset: Preset not found: 'missing'"),
        (
            [*BASE, "--symbols", "AAPL", "--bar-period", "WEEK"],
            "--bar-period must be one of SECOND, MINUTE, HOUR, DAY, got 'WEEK'",
        ),
        (
            [*BASE, "--symbols", "AAPL", "--param", "fast_period"],
            "--param expects name=value, got 'fast_period'",
        ),
        (
            [*BASE, "--symbols", "AAPL", "--param", "fast_period=7"],
            "--param fast_period is given more than once",
        ),
        (
            [
                "--strategy",
                "SMACrossover",
                "--bar-period",
                "MINUTE",
                "--symbols",
                "AAPL",
                "--param",
                "speed=3",
            ],
            "--param: speed: unknown parameter 'speed'; known: bar_period, fast_period, "
            "slow_period, quantity",
        ),
        (
            [
                "--strategy",
                "SMACrossover",
                "--bar-period",
                "MINUTE",
                "--symbols",
                "AAPL",
                "--param",
                "fast_period=fast",
            ],
            "--param: fast_period: expected an integer, got 'fast'",
        ),
        (
            [
                "--strategy",
                "SMACrossover",
                "--bar-period",
                "MINUTE",
                "--symbols",
                "AAPL",
                "--param",
                "fast_period=1000",
            ],
            "--param: fast_period: ",
        ),
        (
            [*BASE, "--symbols", "AAPL,TSLA"],
            "--symbols/--preset: no MINUTE bars of databento/XNAS.ITCH for: TSLA",
        ),
        (
            [*BASE, "--symbols", "AAPL", "--bar-period", "DAY"],
            "--symbols/--preset: no DAY bars of databento/XNAS.ITCH for: AAPL",
        ),
        (
            [*BASE, "--symbols", "AAPL", "--start", "2024-1-2"],
            "--start: start_date must be a date YYYY-MM-DD, got '2024-1-2'",
        ),
        (
            [*BASE, "--symbols", "AAPL", "--start", "2024-01-05", "--end", "2024-01-03"],
            "--end: end_date 2024-01-03 is before start_date 2024-01-05",
        ),
        (
            [*BASE, "--symbols", "AAPL", "--record", "all"],
            "--record: record must be one of: full, trades",
        ),
        (
            [*BASE, "--symbols", "AAPL", "--fill-timing", "later"],
            "--fill-timing: fill_timing must be one of: next_bar, same_bar",
        ),
        (
            [*BASE, "--symbols", "AAPL", "--commission-per-unit", "-1"],
            "--commission-per-unit: commission_per_unit must be a finite number >= 0",
        ),
        (
            [*BASE, "--symbols", "AAPL", "--publisher-id", "99"],
            "--publisher/--publisher-id: publisher_id 99 does not exist",
        ),
        ([*BASE, "--symbols", "AAPL", "--publisher-id", "x"], "publisher_id must be an integer"),
        (
            [*BASE, "--symbols", "AAPL", "--publisher-id", "1", "--publisher", "databento"],
            "give --publisher (with --dataset) or --publisher-id, not both",
        ),
        (
            [*BASE, "--symbols", "AAPL", "--publisher", "yahoo"],
            "no publisher named 'yahoo'; known: databento XNAS.ITCH (id ",
        ),
    ],
)
def test_run_backtest_bad_arguments_raise_precise_error_and_create_no_run(data, args, message):
    with pytest.raises(CommandError) as caught:
        _call(*args)

    assert message in str(caught.value)
    assert not Run.objects.exists()


@pytest.mark.django_db(databases=DBS)
def test_run_backtest_several_publishers_need_a_choice(data, tmp_path):
    ingest_bars(
        tmp_path,
        bars=minute_bars(10, "2024-01-02T14:30", 5),
        mappings=MAPPINGS,
        dataset="DBEQ.BASIC",
    )

    with pytest.raises(CommandError) as caught:
        _call(*BASE, "--symbols", "AAPL")
    assert (
        "several publishers exist; choose one with --publisher and --dataset, or --publisher-id"
        in str(caught.value)
    )
    assert "databento DBEQ.BASIC (id " in str(caught.value)
    assert "databento XNAS.ITCH (id " in str(caught.value)

    with pytest.raises(CommandError, match="choose one with --dataset"):
        _call(*BASE, "--symbols", "AAPL", "--publisher", "databento")

    _call(*BASE, "--symbols", "AAPL", "--publisher", "databento", "--dataset", "DBEQ.BASIC")
    assert Run.objects.get().metadata["bars"] == 5


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_run_backtest_empty_security_master_says_ingest_first():
    with pytest.raises(
        CommandError, match="the security master has no publishers; ingest data first"
    ):
        _call(*BASE, "--symbols", "AAPL")


@pytest.mark.django_db(databases=DBS)
def test_run_backtest_failing_run_raises_with_the_error(data, tmp_path, settings):
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "exploding.py").write_text(
        "from backtests.engine.enums import BarPeriod\n"
        "from backtests.engine.strategies.base import ParamSpec, StrategyBase\n"
        "class ExplodingStrategy(StrategyBase):\n"
        "    parameters = {'bar_period': ParamSpec(default=BarPeriod.MINUTE)}\n"
        "    def on_bar(self, bar):\n"
        "        raise RuntimeError('kaboom')\n"
    )
    from backtests.engine.registry import discover_user_code
    from backtests.engine.strategies.base import _strategy_classes

    assert discover_user_code(strategies_dir=folder, indicators_dir=None) == []
    try:
        with pytest.raises(CommandError, match=r"run [0-9a-f]{12} failed: RuntimeError: kaboom"):
            _call("--strategy", "ExplodingStrategy", "--symbols", "AAPL")
    finally:
        _strategy_classes.pop("ExplodingStrategy", None)
    assert Run.objects.get().status == "failed"


def test_list_strategies_prints_ids_names_and_parameters():
    out = io.StringIO()
    call_command("list_strategies", stdout=out, stderr=io.StringIO())

    text = out.getvalue()
    assert "SMACrossover  (SMA Crossover)" in text
    assert "    fast_period: int = 20  [5..100] step 1" in text
    assert "    bar_period: enum = SECOND  one of SECOND, MINUTE, HOUR, DAY" in text
