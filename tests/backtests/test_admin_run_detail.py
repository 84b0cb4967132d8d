"""The runs admin shows times as UTC text, money with the shared rule, a traceback as text.

``run_rows.BASE_NS`` is 2024-01-02 09:00:00 UTC; ``t(m)`` is m minutes later.
"""

from __future__ import annotations

import html
import re

import pytest

from backtests.models import Run, RunStatus
from tests.backtests.run_rows import BASE_NS, run_row, t

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

CHANGELIST = "/admin/backtests/run/"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/home/me/strategies/mine.py", line 12, in on_bar\n'
    "    raise RuntimeError('boom')\n"
    "RuntimeError: boom\n"
)


def cell(page: str, field: str, run_id: str) -> str:
    """The text of one changelist cell of the row of ``run_id``."""
    (row,) = [row for row in page.split("<tr") if f">{run_id}</a>" in row]
    found = re.search(rf'<td class="field-{field}[^"]*">(.*?)</td>', row, re.S).group(1)
    return html.unescape(re.sub(r"<[^>]+>", "", found)).strip()


def summary(net_pnl: float) -> dict:
    return {"summary": {"net_pnl": net_pnl, "sharpe": 1.25, "trades": 3}}


def test_changelist_shows_start_time_duration_and_net_pnl(admin_client):
    done = run_row("done", metadata=summary(76.03000000000017))
    Run.objects.filter(pk=done.pk).update(started_ns=t(2), ts_end=t(5) + 30_000_000_000)
    run_row("old", metadata={"net_pnl": 12.5})  # before stored summaries: no summary
    run_row("waiting", status=RunStatus.QUEUED)
    page = admin_client.get(CHANGELIST).content.decode()
    assert cell(page, "started_short", "done") == "2024-01-02 09:02"
    assert cell(page, "took", "done") == "3 min 30 s"  # from start to end, not from queueing
    assert cell(page, "net_pnl", "done") == "76.03"
    assert cell(page, "net_pnl", "old") == "—"
    assert cell(page, "started_short", "waiting") == "—"
    assert cell(page, "status_progress", "waiting") == "queued"
    assert str(BASE_NS) not in page


def test_changelist_sorts_by_net_pnl(admin_client):
    for run_id, pnl in (("a", 5.0), ("b", -120.5), ("c", 30.25)):
        run_row(run_id, metadata=summary(pnl))
    page = admin_client.get(CHANGELIST, {"o": str(_column("net_pnl"))}).content.decode()
    order = re.findall(r'<th class="field-run_id"><a href="[^"]*">([^<]+)</a>', page)
    assert order == ["b", "a", "c"]


def _column(name: str) -> int:
    """The admin's ``?o=`` index of a column (the action checkbox is column 0)."""
    from backtests.admin import RunAdmin

    return RunAdmin.list_display.index(name) + 1


def test_detail_shows_times_as_text_and_the_traceback_as_lines(admin_client):
    run = run_row(
        "failed1",
        status=RunStatus.FAILED,
        metadata={"error": "RuntimeError: boom", "traceback": TRACEBACK},
    )
    Run.objects.filter(pk=run.pk).update(
        started_ns=t(1), ts_end=t(2), heartbeat_ns=t(2) - 250_000_000
    )
    page = admin_client.get(f"{CHANGELIST}failed1/change/").content.decode()
    for ns in (t(1), t(2), t(2) - 250_000_000, BASE_NS):
        assert str(ns) not in page  # no raw nanoseconds anywhere
    assert "2024-01-02 09:00:00 UTC" in page  # created
    assert "2024-01-02 09:01:00 UTC" in page  # started
    assert "2024-01-02 09:02:00 UTC" in page  # ended
    assert "2024-01-02 09:01:59 UTC (" in page  # heartbeat, with how long ago
    pre = re.search(r'<pre class="ost-pre">(.*?)</pre>', page, re.S).group(1)
    assert html.unescape(pre) == TRACEBACK  # real line breaks, not "\n" escapes
    assert "\\n" not in page.split('class="ost-pre"')[1].split("</pre>")[0]
