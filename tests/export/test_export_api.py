"""GET /api/runs/{id}/export/{table}.{csv|parquet} and export.zip on a real run.

Expected values come from elsewhere: the ORM's own rows, the metrics API, the strategy file
hashed here with hashlib, and the bars this test ingested (240 per symbol from 14:30).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from backtests.export.archive import TABLE_UNKNOWN
from backtests.export.tables import EXPORT_TABLES
from backtests.models import Fill, OrderAccepted, OrderSubmission, RunStatus
from backtests.results.models import RoundTrip
from tests.backtests.run_rows import run_row, run_with_one_trade
from tests.export.conftest import BARS_PER_SYMBOL, FIRST_BAR_NS, LAST_BAR_NS

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

SMA_SOURCE = (
    Path(__file__).resolve().parents[2] / "backtests/engine/strategies/examples/sma_crossover.py"
)


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body_of(response).decode("utf-8"))))


def test_fills_csv_has_every_fill_in_execution_order(api_client):
    run_with_one_trade("trade1")
    response = api_client.get("/api/runs/trade1/export/fills.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="trade1-fills.csv"' in response["Content-Disposition"]
    rows = csv_rows(response)
    # tests/backtests/run_rows.py: bought 10 @ 100 at minute 1, sold 10 @ 105 at minute 3.
    assert [(r["side"], r["quantity_filled"], r["fill_price"], r["commission"]) for r in rows] == [
        ("BUY", "10.0", "100.0", "1.0"),
        ("SELL", "10.0", "105.0", "1.0"),
    ]
    assert rows[0]["broker_fill_id"] == ""  # None is an empty field


def test_roundtrips_csv_and_parquet_agree_with_the_hand_computed_trade(api_client):
    run_with_one_trade("trade1")
    rows = csv_rows(api_client.get("/api/runs/trade1/export/roundtrips.csv"))
    assert len(rows) == 1
    assert float(rows[0]["pnl_after_commission"]) == 48.0
    assert float(rows[0]["pnl_before_commission"]) == 50.0
    response = api_client.get("/api/runs/trade1/export/roundtrips.parquet")
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(body_of(response)))
    assert table.column_names == list(rows[0])
    assert table.column("pnl_after_commission").to_pylist() == [48.0]
    assert table.schema.field("entry_ts").type == "int64"


def test_every_table_of_a_real_run_matches_its_rows(api_client, executed_run):
    run_id = executed_run.run_id
    fills = list(
        Fill.objects.filter(run_id=run_id)
        .order_by("ts_event_ns", "id")
        .values_list("fill_id", "fill_price")
    )
    assert fills, "the run must have filled"
    parquet = pq.read_table(
        io.BytesIO(body_of(api_client.get(f"/api/runs/{run_id}/export/fills.parquet")))
    )
    assert (
        list(
            zip(
                parquet.column("fill_id").to_pylist(),
                parquet.column("fill_price").to_pylist(),
                strict=True,
            )
        )
        == fills
    )
    submissions = csv_rows(api_client.get(f"/api/runs/{run_id}/export/order_submissions.csv"))
    assert len(submissions) == OrderSubmission.objects.filter(run_id=run_id).count()
    accepted = csv_rows(api_client.get(f"/api/runs/{run_id}/export/orders_accepted.csv"))
    assert len(accepted) == OrderAccepted.objects.filter(run_id=run_id).count()
    trips = csv_rows(api_client.get(f"/api/runs/{run_id}/export/roundtrips.csv"))
    assert [int(r["number"]) for r in trips] == list(
        range(1, RoundTrip.objects.filter(run_id=run_id).count() + 1)
    )
    metrics = api_client.get(f"/api/runs/{run_id}/metrics").json()
    exported = {
        (r["scope"], r["metric"]): r["value"]
        for r in csv_rows(api_client.get(f"/api/runs/{run_id}/export/metrics.csv"))
    }
    assert float(exported["run", "net_pnl"]) == metrics["net_pnl"]
    assert float(exported["AAPL", "net_pnl"]) == metrics["per_symbol"]["AAPL"]["net_pnl"]
    equity = csv_rows(api_client.get(f"/api/runs/{run_id}/export/equity.csv"))
    assert round(float(equity[-1]["equity"]), 2) == metrics["final_equity"]
    daily = csv_rows(api_client.get(f"/api/runs/{run_id}/export/equity_daily.csv"))
    assert [r["day"] for r in daily] == ["2024-01-02"]
    daily_parquet = pq.read_table(
        io.BytesIO(body_of(api_client.get(f"/api/runs/{run_id}/export/equity_daily.parquet")))
    )
    assert str(daily_parquet.schema.field("day").type) == "date32[day]"


@pytest.mark.parametrize("export_format", ["csv", "parquet"])
def test_zip_holds_every_table_the_source_and_a_manifest(api_client, executed_run, export_format):
    run_id = executed_run.run_id
    response = api_client.get(f"/api/runs/{run_id}/export.zip", {"format": export_format})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body_of(response)))
    names = set(archive.namelist())
    expected = {f"{run_id}/{name}.{export_format}" for name in EXPORT_TABLES}
    expected |= {f"{run_id}/manifest.json", f"{run_id}/metrics.json"}
    expected |= {f"{run_id}/strategy/sma_crossover.py"}
    assert names == expected
    manifest = json.loads(archive.read(f"{run_id}/manifest.json"))
    assert manifest["config"] == executed_run.config
    source = SMA_SOURCE.read_bytes()
    assert archive.read(f"{run_id}/strategy/sma_crossover.py") == source
    assert manifest["strategy"]["sha256"] == hashlib.sha256(source).hexdigest()
    assert manifest["strategy"]["source_file"] == "strategy/sma_crossover.py"
    assert [i["name"] for i in manifest["indicators"]] == [
        i["name"] for i in executed_run.metadata["indicators"]
    ]
    data = manifest["data"]
    assert (data["publisher"], data["dataset"], data["bar_period"]) == (
        "databento",
        "XNAS.ITCH",
        "MINUTE",
    )
    for symbol in ("AAPL", "MSFT"):
        assert data["symbols"][symbol]["bars"] == BARS_PER_SYMBOL
        assert data["symbols"][symbol]["first_bar_ns"] == FIRST_BAR_NS
        assert data["symbols"][symbol]["last_bar_ns"] == LAST_BAR_NS
        assert data["symbols"][symbol]["first_bar"] == "2024-01-02T14:30:00Z"
    assert manifest["fill_model"] == {
        "commission_per_unit": 0.01,
        "fill_model": "classic",
        "fill_timing": "next_bar",
        "latency_ms": 0.0,
        "minimum_commission": 1.0,
        "participation_cap": None,
        "slippage_bps": 0.0,
        "slippage_ticks": 0.0,
        "tick_size": None,
    }
    assert manifest["engine"]["version"]
    fills = Fill.objects.filter(run_id=run_id).count()
    assert manifest["tables"]["fills"]["rows"] == fills
    assert manifest["tables"]["fills"]["file"] == f"fills.{export_format}"
    metrics = json.loads(archive.read(f"{run_id}/metrics.json"))
    assert metrics["net_pnl"] == api_client.get(f"/api/runs/{run_id}/metrics").json()["net_pnl"]


@pytest.mark.parametrize("file", ["fills.xlsx", "nothing.csv", "fills", "fills.csv.parquet"])
def test_unknown_export_file_is_404_listing_the_tables(api_client, file):
    run_with_one_trade("trade1")
    response = api_client.get(f"/api/runs/trade1/export/{file}")
    assert response.status_code == 404
    assert response.json() == {
        "error": TABLE_UNKNOWN.format(file=file, tables=", ".join(EXPORT_TABLES))
    }


@pytest.mark.parametrize("route", ["export/fills.csv", "export/fills.parquet", "export.zip"])
def test_export_of_unknown_run_is_404_and_of_active_run_409(api_client, route):
    assert api_client.get(f"/api/runs/nope/{route}").status_code == 404
    run_row("busy", status=RunStatus.RUNNING)
    response = api_client.get(f"/api/runs/busy/{route}")
    assert response.status_code == 409
    assert "running" in response.json()["error"]


def test_zip_with_a_bad_format_is_400(api_client):
    run_with_one_trade("trade1")
    response = api_client.get("/api/runs/trade1/export.zip", {"format": "xlsx"})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"format"}


def test_export_anonymous_is_401(anon_client):
    run_with_one_trade("trade1")
    for route in ("export/fills.csv", "export.zip"):
        assert anon_client.get(f"/api/runs/trade1/{route}").status_code == 401
