"""The performance page's Export menu downloads real files in Chromium, and its Rerun
button reruns the run on a real worker and says the fills are identical."""

from __future__ import annotations

import json
import zipfile

import pyarrow.parquet as pq
import pytest
from playwright.sync_api import expect

from backtests.models import Fill
from tests.e2e.helpers import screenshot
from tests.e2e.test_compare_browser import executed_run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]


@pytest.fixture
def run_id(market) -> str:
    return executed_run(market, fast=5, slow=10, capital=100_000, name="export me")


def download(page, selector: str):
    with page.expect_download() as info:
        page.click(selector)
    return info.value


def test_export_menu_downloads_the_zip_and_a_parquet_table(desktop, run_id, page_errors, tmp_path):
    page = desktop
    page.goto(page.base_url + "/performance?run=" + run_id)
    expect(page.locator("#run-tools")).to_be_visible()
    page.click("#export-menu summary")
    page.set_viewport_size({"width": 1400, "height": 900})
    screenshot(page, "performance-export-1400")

    saved = tmp_path / "export.zip"
    zipped = download(page, "#export-zip-csv")
    assert zipped.suggested_filename == f"{run_id}-csv.zip"
    zipped.save_as(saved)
    archive = zipfile.ZipFile(saved)
    manifest = json.loads(archive.read(f"{run_id}/manifest.json"))
    assert manifest["run"]["run_id"] == run_id
    fills_csv = archive.read(f"{run_id}/fills.csv").decode().splitlines()
    fills = Fill.objects.filter(run_id=run_id).count()
    assert len(fills_csv) == fills + 1  # the header

    if page.locator("#export-menu").get_attribute("open") is None:
        page.click("#export-menu summary")
    table = download(page, "#export-menu a[data-href$='/export/fills.parquet']")
    assert table.suggested_filename == f"{run_id}-fills.parquet"
    path = tmp_path / "fills.parquet"
    table.save_as(path)
    assert pq.read_table(path).num_rows == fills
    assert page_errors == []


def test_export_menu_fits_a_phone(phone, run_id, page_errors):
    page = phone
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(page.base_url + "/performance?run=" + run_id)
    expect(page.locator("#run-tools")).to_be_visible()
    page.click("#export-menu summary")
    panel = page.locator(".export-panel").bounding_box()
    assert panel["x"] >= 0 and panel["x"] + panel["width"] <= 390
    screenshot(page, "performance-export-390")
    assert page_errors == []


@pytest.mark.worker
def test_rerun_button_says_fills_identical(desktop, run_id, worker, page_errors):
    page = desktop
    page.goto(page.base_url + "/performance?run=" + run_id)
    # The tools belong to the run once the page has loaded it (a click before is no rerun).
    page.wait_for_selector("#run-tools:not([hidden])")
    page.wait_for_load_state("networkidle")
    page.click("#rerun-button")
    expect(page.locator("#rerun-status")).to_contain_text("Fills identical", timeout=90_000)
    fills = Fill.objects.filter(run_id=run_id).count()
    expect(page.locator("#rerun-status")).to_contain_text(f"{fills:,} fills")
    assert page_errors == []
