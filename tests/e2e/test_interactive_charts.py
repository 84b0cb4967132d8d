"""Interactive charts in Chromium (lightweight-charts served from node_modules by Django):
a 50,000-bar window drawn to its last bar, zoom, the hover legend, a trade with its markers
and P&L band on /performance, the equity chart, and the comparison page's two runs.

The runs are real backtests (SMA crossover) on minute bars ingested from real DBN files.
Expected values come from the database (the recorded bars) or the page's own data, never
from the chart code."""

from __future__ import annotations

import time

import pytest

from backtests.models import ProcessedBar, RunStatus
from tests.e2e.helpers import screenshot
from tests.e2e.site_data import completed_run, market_sessions

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]

BIG_WINDOW = 50_000
S = 1_000_000_000
DRAWN = (
    "(id) => window.ostCharts && window.ostCharts[id]"
    " && window.ostCharts[id].lastDrawnTime() !== null"
)


@pytest.fixture
def big_run(tmp_path) -> str:
    """SMA crossover (5/10) on 50,000 consecutive minute bars of AAPL, recorded in full."""
    from backtests.services.backtest_spec import backtest_spec_build
    from backtests.services.runs import run_create, run_execute
    from tests.backtests.market_data import ingest_bars, minute_bars

    bars = minute_bars(38, "2024-01-02T00:00", BIG_WINDOW, step=0.05)
    publisher_id = ingest_bars(
        tmp_path, bars=bars, mappings={"AAPL": [("2024-01-01", "2024-03-01", 38)]}
    )
    spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"fast_period": 5, "slow_period": 10},
        symbols=["AAPL"],
        rtype=33,
        publisher_id=publisher_id,
    )
    run = run_execute(run_id=run_create(spec=spec, name="fifty thousand bars").run_id)
    assert run.status == RunStatus.COMPLETED, run.metadata
    return run.run_id


@pytest.fixture
def small_run(tmp_path) -> str:
    return completed_run(market_sessions(tmp_path)).run_id


def bar_seconds(run_id: str, symbol: str, order: str) -> int:
    """The UTC seconds of the run's first (``ts_event_ns``) or last (``-ts_event_ns``) bar."""
    bars = ProcessedBar.objects.filter(run_id=run_id, symbol=symbol)
    return bars.order_by(order).values_list("ts_event_ns", flat=True)[0] // S


def last_bar_seconds(run_id: str, symbol: str) -> int:
    return bar_seconds(run_id, symbol, "-ts_event_ns")


def visible(page, chart_id: str) -> dict:
    return page.evaluate("(id) => window.ostCharts[id].visibleRange()", chart_id)


def test_chart_page_draws_a_fifty_thousand_bar_window_to_its_last_bar(
    desktop, big_run, page_errors
):
    page = desktop
    page.goto(page.base_url + f"/chart?run={big_run}&symbol=AAPL")
    page.wait_for_function(DRAWN, arg="chart")
    started = time.perf_counter()
    page.select_option("#window-bars", str(BIG_WINDOW))
    page.wait_for_function(
        f"() => window.ostChart && window.ostChart.data.count === {BIG_WINDOW}"
        " && window.ostChart.lastDrawnTime() !== null",
        timeout=60_000,
    )
    elapsed = time.perf_counter() - started
    print(f"\n50,000-bar window: route + draw in {elapsed:.2f} s")
    expected_last = last_bar_seconds(big_run, "AAPL")
    expected_first = bar_seconds(big_run, "AAPL", "ts_event_ns")
    drawn = page.evaluate(
        "() => ({ last: window.ostChart.data.bars.time.at(-1), count:"
        " window.ostChart.data.bars.time.length, drawn: window.ostChart.lastDrawnTime(),"
        " from: window.ostChart.chart.timeScale().getVisibleRange().from })"
    )
    # every bar of the window is in view, up to the run's last bar
    assert drawn == {
        "last": expected_last,
        "count": BIG_WINDOW,
        "drawn": expected_last,
        "from": expected_first,
    }
    # The page still answers: a frame is painted within a second of asking.
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done(true)))")
    assert page.locator("#chart-heading").inner_text() == "AAPL · 50,000 bars"
    screenshot(page, "ichart-chart-50k-1280")
    # The PNG of the same window stays one link away.
    assert "/window.png?" in page.locator("#chart-link").get_attribute("href")
    assert page_errors == []


def test_chart_zoom_changes_visible_range_and_legend_follows_pointer(
    desktop, small_run, page_errors
):
    page = desktop
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(page.base_url + f"/chart?run={small_run}&symbol=AAPL")
    page.wait_for_function(DRAWN, arg="chart")
    before = visible(page, "chart")
    box = page.locator("#chart").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.4)
    page.mouse.wheel(0, -600)  # wheel up: zoom in
    page.wait_for_function(
        "(w) => { const r = window.ostCharts.chart.visibleRange(); return r.to - r.from < w; }",
        arg=before["to"] - before["from"],
    )
    after = visible(page, "chart")
    assert after["to"] - after["from"] < before["to"] - before["from"]
    # The legend shows the bar under the pointer: its time and O H L C, and the SMA values.
    legend = page.locator("#chart .ichart-legend")
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    page.wait_for_function(
        "() => /UTC/.test(document.querySelector('#chart .ichart-legend').textContent)"
    )
    text = legend.inner_text()
    for part in ("UTC", "O ", "H ", "L ", "C "):
        assert part in text
    assert "SMA" in text
    screenshot(page, "ichart-chart-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    screenshot(page, "ichart-chart-390")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page_errors == []


def test_performance_trade_markers_band_and_interactive_equity(desktop, small_run, page_errors):
    from backtests.models import Run
    from backtests.results.selectors import equity_series_get

    page = desktop
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(page.base_url + f"/performance?run={small_run}")
    page.wait_for_function(DRAWN, arg="equity")
    series, _ = equity_series_get(Run.objects.get(pk=small_run))
    assert page.evaluate("window.ostCharts.equity.lastTime") == int(series["ts"][-1]) // S
    assert "/equity.png" in page.locator("#equity-link").get_attribute("href")
    screenshot(page, "ichart-performance-1400")

    page.locator("#roundtrips tbody tr").first.click()
    page.wait_for_function(DRAWN, arg="trade-chart")
    trade = page.evaluate(
        "() => { const h = window.ostCharts['trade-chart'];"
        " return { lines: h.candles.priceLines().map((l) => l.options().title),"
        " texts: h.markers.map((m) => m.text.split(' ')[0]),"
        " shapes: h.markers.map((m) => m.shape) }; }"
    )
    assert trade["lines"] == ["entry", "exit"]
    # the trade's entry and exit, and its fills: ▲ buys (arrowUp), ▼ sells (arrowDown)
    assert {"Entry", "Exit"} <= set(trade["texts"])
    assert {"arrowUp", "arrowDown"} <= set(trade["shapes"])
    # The band over the holding period is a series of its own on the price pane.
    series_count = page.evaluate(
        "() => window.ostCharts['trade-chart'].chart.panes()[0].getSeries().length"
    )
    assert series_count >= 2 + 1  # candles + the two SMA overlays ... + the band
    assert "/chart.png?" in page.locator("#trade-chart-link").get_attribute("href")
    screenshot(page, "ichart-trade-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    screenshot(page, "ichart-trade-390")
    page.keyboard.press("Escape")
    page.wait_for_timeout(200)
    screenshot(page, "ichart-performance-390")
    assert page_errors == []
