"""The security master admin shows bar times as UTC text on detail pages too."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from secmaster.models import CoverageRow
from tests.backtests.market_data import ingest_bars, minute_bars

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])


def test_coverage_detail_shows_first_and_last_bar_as_utc_text(admin_client, tmp_path):
    bars = minute_bars(38, "2024-01-02T14:30", 3)  # 14:30, 14:31, 14:32
    ingest_bars(tmp_path, bars=bars, mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]})
    row = CoverageRow.objects.get(symbol="AAPL")
    page = admin_client.get(f"/admin/secmaster/coveragerow/{quote(row.pk)}/change/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "2024-01-02 14:30:00 UTC" in text and "2024-01-02 14:32:00 UTC" in text
    assert str(row.min_ts) not in text and str(row.max_ts) not in text
