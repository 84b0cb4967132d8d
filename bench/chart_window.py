"""Benchmark: the interactive chart's largest window, 50,000 bars, from the route to the screen.

    .venv/bin/python bench/chart_window.py            # 50,000 bars (the limit), 3 indicators
    .venv/bin/python bench/chart_window.py --bars 5000

Steps: temporary SQLite databases; a completed run with ``--bars`` recorded minute bars of one
symbol (SMA(10) and SMA(30) overlays, an RSI(14) panel) and a fill every 50 bars, written
straight into its tables (no engine: only the chart is measured); then
1. ``GET /api/runs/{id}/chart-data`` for the whole window through Django's test client,
   best of 3: seconds and JSON size;
2. the same JSON drawn by static/js/ichart.js with lightweight-charts in Chromium
   (/usr/bin/chromium, 1400 px wide; the page's scripts and the JSON served from this
   process): milliseconds from the data to the chart's first frame, the longest task the
   main thread ran meanwhile, whether the whole window is in view (first to last bar), and
   how long one zoom step takes to redraw (every bar in view, and about 2,500).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from _common import ROOT, django_setup, sqlite_env

RUN_ID = "bench-chart"
T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC
MINUTE = 60_000_000_000
PAGE = """<!doctype html><html><head><link rel="stylesheet" href="/static/css/site.css"></head>
<body><div id="chart" class="ichart"></div>
<script src="/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js">
</script>
<script src="/static/js/api.js"></script><script src="/static/js/ichart.js"></script>
</body></html>"""
DRAW = """async (data) => {
  const longest = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longest.push(e.duration);
  });
  observer.observe({ type: "longtask", buffered: false });
  const started = performance.now();
  const handle = window.OST.ichart.price(document.getElementById("chart"), data, {});
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const ms = performance.now() - started;
  await new Promise((done) => setTimeout(done, 200));
  const range = handle.chart.timeScale().getVisibleRange();
  const zoomStarted = performance.now();
  window.OST.ichart.zoom(handle, 0.8);
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const zoomMs = performance.now() - zoomStarted;
  window.OST.ichart.zoom(handle, 0.0625);  // about 2,500 bars in view
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const nearStarted = performance.now();
  window.OST.ichart.zoom(handle, 0.8);
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const nearMs = performance.now() - nearStarted;
  return { ms: ms, longestTask: Math.max(0, ...longest), lastDrawn: range.to,
           firstDrawn: range.from, firstBar: data.bars.time[0], zoomMs: zoomMs, nearMs: nearMs,
           lastBar: data.bars.time[data.bars.time.length - 1] };
}"""


def setup_run(bars: int) -> None:
    import numpy as np
    from django.core.management import call_command

    from backtests.models import Fill, ProcessedBar, Run, RunStatus

    for alias in ("default", "secmaster"):
        call_command("migrate", database=alias, verbosity=0)
    metadata = {
        "indicators": [
            {"name": "SMA(10)", "placement": "overlay", "color": "#0969da", "style": "line"},
            {"name": "SMA(30)", "placement": "overlay", "color": "#bf3989", "style": "dashed"},
            {"name": "RSI(14)", "placement": "panel", "color": "#8250df", "style": "line"},
        ]
    }
    config = {"symbols": ["SYM0"], "bar_period": "MINUTE", "rtype": 33, "record": "full"}
    run = Run.objects.create(
        run_id=RUN_ID,
        name="chart bench",
        ts_start=T0,
        status=RunStatus.COMPLETED,
        config=config,
        metadata=metadata,
    )
    rng = np.random.default_rng(5)
    close = 100 + np.cumsum(rng.normal(0, 0.2, bars))
    open_ = np.concatenate([[100.0], close[:-1]])
    rows = []
    for i in range(bars):
        sma10 = float(close[max(0, i - 9) : i + 1].mean()) if i >= 9 else None
        sma30 = float(close[max(0, i - 29) : i + 1].mean()) if i >= 29 else None
        indicators = {"SMA(10)": sma10, "SMA(30)": sma30, "RSI(14)": 50 + 30 * np.sin(i / 20)}
        hi, lo = max(open_[i], close[i]) + 0.1, min(open_[i], close[i]) - 0.1
        rows.append(
            ProcessedBar(
                run=run,
                ts_event_ns=T0 + i * MINUTE,
                ts_created_ns=0,
                symbol="SYM0",
                bar_period="MINUTE",
                open=float(open_[i]),
                high=float(hi),
                low=float(lo),
                close=float(close[i]),
                volume=100,
                indicators=json.dumps(indicators),
            )
        )
    ProcessedBar.objects.bulk_create(rows, batch_size=5000)
    Fill.objects.bulk_create(
        Fill(
            run=run,
            ts_event_ns=T0 + i * MINUTE,
            ts_created_ns=0,
            ts_broker_ns=0,
            associated_order_id=f"O{i}",
            symbol="SYM0",
            fill_id=f"F{i}",
            side="BUY" if (i // 50) % 2 == 0 else "SELL",
            quantity_filled=10,
            fill_price=float(open_[i]),
            commission=1.0,
            exchange="SIM",
        )
        for i in range(0, bars, 50)
    )


def measure_route(bars: int) -> bytes:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user(username="bench", password="bench-pass-42")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    url = (
        f"/api/runs/{RUN_ID}/chart-data?symbol=SYM0&start_ns={T0}&end_ns={T0 + (bars - 1) * MINUTE}"
    )
    best, body = float("inf"), b""
    for _ in range(3):
        started = time.perf_counter()
        response = client.get(url)
        body = response.content
        best = min(best, time.perf_counter() - started)
        assert response.status_code == 200, body[:300]
    count = json.loads(body)["count"]
    print(f"route: {count:,} bars in {best:.2f} s (best of 3), {len(body) / 1e6:.1f} MB of JSON")
    return body


def measure_browser(body: bytes) -> None:
    from playwright.sync_api import sync_playwright

    vendor = ROOT / "node_modules" / "lightweight-charts" / "dist"

    def serve(route) -> None:
        path = route.request.url.split("://", 1)[1].split("/", 1)[1]
        if path == "":
            route.fulfill(body=PAGE, content_type="text/html")
        elif path.startswith("static/vendor/lightweight-charts/"):
            route.fulfill(path=str(vendor / path.rsplit("/", 1)[1]))
        elif path.startswith("static/"):
            route.fulfill(path=str(ROOT / path))
        else:
            route.fulfill(status=404, body="")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.route("http://bench.local/**", serve)
        page.goto("http://bench.local/")
        data = json.loads(body)
        result = page.evaluate(DRAW, data)
        browser.close()
    print(
        f"browser: drawn in {result['ms']:.0f} ms, longest main-thread task "
        f"{result['longestTask']:.0f} ms; the whole window in view (first to last bar): "
        f"{(result['firstDrawn'], result['lastDrawn']) == (result['firstBar'], result['lastBar'])}"
        f"; a zoom step redrawn in {result['zoomMs']:.0f} ms with every bar in view, "
        f"{result['nearMs']:.0f} ms with about 2,500"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bars", type=int, default=50_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ost-bench-chart-"))
    try:
        django_setup(sqlite_env(workdir))
        setup_run(args.bars)
        body = measure_route(args.bars)
        measure_browser(body)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
