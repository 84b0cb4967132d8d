"""The chart and performance pages in Chromium: windows of real bars, navigation around a
trade, exact times, the trade dialog, state in the URL, run-wide trade numbers, metric cards
on a phone. Data: tests.e2e.site_data (three sessions, Friday, Monday, Tuesday)."""

from __future__ import annotations

import re

import pytest

from ostsite.formatting import number_text
from tests.e2e.helpers import screenshot
from tests.e2e.site_data import BARS_PER_SESSION, SESSIONS, at, completed_run, market_sessions

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]

MINUTE = 60_000_000_000
# Every bar time of a symbol, written out from the sessions: 60 bars from 14:30 each day.
BAR_TIMES = [at(day, "14:30") + i * MINUTE for day in SESSIONS for i in range(BARS_PER_SESSION)]


@pytest.fixture
def run_id(tmp_path) -> str:
    return completed_run(market_sessions(tmp_path)).run_id


# Each interactive chart's PNG link holds the window or trade it draws.
PNG_LINKS = {"chart": "chart-link", "trade-chart": "trade-chart-link"}


def src_query(page, image: str = "#chart") -> dict[str, str]:
    """The query of the PNG link of chart ``image`` (the window or trade it draws)."""
    src = page.locator("#" + PNG_LINKS[image.lstrip("#")]).get_attribute("href")
    return {"path": src.split("?")[0], **dict(re.findall(r"[?&]([a-z_]+)=([^&]*)", src))}


def shown_src(page, image: str = "chart") -> str | None:
    return page.locator("#" + PNG_LINKS[image]).get_attribute("href")


def wait_image(page, image: str = "chart", previous: str | None = None) -> None:
    """Until chart ``image`` has drawn a window or trade other than ``previous``."""
    page.wait_for_function(
        "([id, link, previous]) => { const c = document.getElementById(id);"
        " return document.getElementById(link).getAttribute('href') !== previous"
        " && c.dataset.drawn === 'true' && window.ostCharts[id] !== undefined; }",
        arg=[image, PNG_LINKS[image], previous],
        timeout=30_000,
    )


def buttons(page) -> dict[str, bool]:
    return {
        name: page.locator(f"#{name}").is_enabled() for name in ("first", "prev", "next", "last")
    }


def roundtrips(api_client, run_id: str) -> list[dict]:
    """The run's trades numbered as the pages number them: by entry time, then symbol."""
    trips = api_client.get(f"/api/runs/{run_id}/roundtrips").json()["roundtrips"]
    trips.sort(key=lambda rt: (rt["entry_ts"], rt["symbol"], rt["exit_ts"]))
    return [{**rt, "n": n} for n, rt in enumerate(trips, start=1)]


def test_window_counts_real_bars_from_a_night(run_id, desktop, page_errors):
    page = desktop
    page.goto(page.base_url + f"/chart?run={run_id}&symbol=AAPL")
    wait_image(page)
    previous = shown_src(page)
    page.select_option("#window-bars", "60")  # the window shown is redrawn with 60 bars
    wait_image(page, previous=previous)
    page.fill("#window-start", "2024-01-05T22:00:00")  # Friday night: no bars
    previous = shown_src(page)
    page.click("#show")
    wait_image(page, previous=previous)
    shown = src_query(page)
    # Monday's 60 bars, not 60 minutes of Friday night.
    assert (int(shown["start_ns"]), int(shown["end_ns"])) == (BAR_TIMES[60], BAR_TIMES[119])
    assert page.locator("#chart-heading").inner_text() == "AAPL · 60 bars"
    assert buttons(page) == {"first": True, "prev": True, "next": True, "last": True}

    previous = shown_src(page)
    page.click("#prev")  # Friday's bars, skipping the weekend
    wait_image(page, previous=previous)
    shown = src_query(page)
    assert (int(shown["start_ns"]), int(shown["end_ns"])) == (BAR_TIMES[0], BAR_TIMES[59])
    assert buttons(page) == {"first": False, "prev": False, "next": True, "last": True}
    assert page_errors == []


def test_navigation_continues_from_a_trade(run_id, desktop, api_client, page_errors):
    page = desktop
    trips = [rt for rt in roundtrips(api_client, run_id) if rt["symbol"] == "AAPL"]
    middle = trips[len(trips) // 2]
    # A fresh page opened on a trade in the middle: every direction is open.
    page.goto(page.base_url + f"/chart?run={run_id}&symbol=AAPL&trade={middle['n']}")
    page.wait_for_function(
        f"document.getElementById('chart-heading').textContent.startsWith('Trade {middle['n']} ')"
    )
    wait_image(page)
    assert src_query(page)["path"].endswith("/chart.png")
    assert buttons(page) == {"first": True, "prev": True, "next": True, "last": True}

    previous = shown_src(page)
    page.click("#next")  # the bars after the trade's exit, not entry + window
    wait_image(page, previous=previous)
    after_exit = next(ts for ts in BAR_TIMES if ts > middle["exit_ts"])
    assert int(src_query(page)["start_ns"]) == after_exit

    # From the last window, a trade clicked: Next and Last follow that trade.
    page.goto(page.base_url + f"/chart?run={run_id}&symbol=AAPL")
    wait_image(page)
    previous = shown_src(page)
    page.click("#last")
    wait_image(page, previous=previous)
    assert buttons(page) == {"first": True, "prev": True, "next": False, "last": False}
    first_trade = page.locator(f"#roundtrips tbody tr[data-n='{trips[0]['n']}']")
    first_trade.click()
    wait_image(page)
    # (Bars before its entry too: the averages' warm-up.)
    assert buttons(page) == {"first": True, "prev": True, "next": True, "last": True}
    assert f"trade={trips[0]['n']}" in page.url
    assert page_errors == []


def test_data_range_is_exact_for_a_run_ending_on_a_sunday(tmp_path, desktop, page_errors):
    run = completed_run(market_sessions(tmp_path), end_date="2024-01-07")
    page = desktop
    page.goto(page.base_url + f"/chart?run={run.run_id}&symbol=AAPL")
    page.wait_for_function("document.getElementById('window-hint').textContent !== ''")
    # The run's last AAPL bar is Friday 15:29, not the Sunday midnight the end date implies.
    assert page.locator("#window-hint").inner_text() == (
        "Data of AAPL: 2024-01-05 14:30 → 2024-01-05 15:29 UTC."
    )
    assert page_errors == []


def test_trade_opens_whole_over_the_table_and_the_url_keeps_it(
    run_id, desktop, api_client, page_errors
):
    page = desktop
    trips = roundtrips(api_client, run_id)
    msft = [rt for rt in trips if rt["symbol"] == "MSFT"]
    page.goto(page.base_url + f"/performance?run={run_id}")
    page.wait_for_selector("#roundtrips tbody tr.clickable")
    page.select_option("#symbol", "MSFT")
    page.wait_for_function(
        "(() => { const cells = [...document.querySelectorAll("
        "'#roundtrips tbody tr.clickable td:nth-child(2)')];"
        " return cells.length > 0 && cells.every(td => td.textContent === 'MSFT'); })()"
    )
    # Numbers are the run's: filtering by symbol keeps them.
    shown = page.eval_on_selector_all(
        "#roundtrips tbody tr.clickable", "rows => rows.map(r => Number(r.dataset.n))"
    )
    assert shown == [rt["n"] for rt in msft]
    assert f"run={run_id}&symbol=MSFT" in page.url

    last = msft[-1]
    page.locator(f"#roundtrips tbody tr[data-n='{last['n']}']").click()
    page.wait_for_selector("#trade-dialog[open]")
    wait_image(page, "trade-chart")
    box = page.locator("#trade-chart").bounding_box()
    viewport = page.viewport_size
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]  # whole, in view
    assert page.locator("#trade-heading").inner_text().startswith(f"Trade {last['n']} · MSFT")
    assert f"symbol=MSFT&trade={last['n']}" in page.url
    screenshot(page, "performance-trade-1280")

    page.reload()  # a reload (or a shared link) shows the same
    page.wait_for_selector("#trade-dialog[open]")
    assert page.locator("#symbol").input_value() == "MSFT"
    assert page.locator("#trade-heading").inner_text().startswith(f"Trade {last['n']} · MSFT")
    page.click("#trade-previous")
    assert page.locator("#trade-heading").inner_text().startswith(f"Trade {msft[-2]['n']} · MSFT")
    page.keyboard.press("Escape")
    page.wait_for_function("!location.search.includes('trade=')")
    assert page_errors == []


def test_metric_cards_are_compact_on_a_phone_and_use_the_shared_format(
    run_id, phone, api_client, page_errors
):
    page = phone
    page.goto(page.base_url + f"/performance?run={run_id}")
    page.wait_for_selector("#metrics .metric[data-metric=expectancy]")
    metrics = api_client.get(f"/api/runs/{run_id}/metrics").json()
    for key in ("expectancy", "net_pnl", "avg_loss"):
        text = page.locator(f".metric[data-metric={key}] .metric-value").inner_text()
        assert text == number_text(metrics[key]), key
    heights = page.eval_on_selector_all(
        "#metrics .metric", "ms => ms.map(m => m.getBoundingClientRect().height)"
    )
    assert max(heights) <= 50  # a line each (a long label on two), two to a row
    # Some 40 figures in four groups fit in one phone screen (they took nine).
    assert page.locator("#metrics").bounding_box()["height"] <= 812
    screenshot(page, "performance-metrics-375")
    assert page_errors == []
