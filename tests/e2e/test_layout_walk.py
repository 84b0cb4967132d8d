"""Every page fits the screen: at 1400 px and at 390 px wide, no element sticks out of the
viewport (the page never scrolls sideways); wide content scrolls inside a box of its own.

``PAGES`` lists them; a page added later (studies, comparison, walk-forward...) is one more
line. Paths may name ``{run_id}`` (a completed run with trades), ``{failed_run_id}`` and
``{long_run_id}`` (a run with a long name) of ``tests.e2e.site_data``. A page that sticks out
is screenshot to /tmp/pages/walk-<page>-<width>.png; with ``OST_WALK_SCREENSHOTS=1`` every page
is (full-page screenshots of long pages cost seconds each, so CI takes only the ones it needs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from tests.e2e.helpers import PASSWORD, new_page, screenshot
from tests.e2e.site_data import site_with_runs

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]

WIDTHS = (1400, 390)
SCREENSHOT_EVERY_PAGE = os.environ.get("OST_WALK_SCREENSHOTS") == "1"
CHARTS_LOADED = (
    "[...document.querySelectorAll('img.chart:not([hidden])')]"
    ".filter(i => i.getAttribute('src')).every(i => i.complete)"
)


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    ready: str  # a selector that is visible once the page has its content
    anonymous: bool = False
    charts: bool = False  # wait for its chart images too


PAGES = [
    Page("login", "/login/", "#id_password", anonymous=True),
    Page("backtest", "/backtest", "#history tr[data-run-id='{long_run_id}']"),
    Page("performance", "/performance?run={run_id}", "#roundtrips tbody tr.clickable", charts=True),
    Page(
        "performance-trade", "/performance?run={run_id}&trade=1", "#trade-dialog[open]", charts=True
    ),
    Page("chart", "/chart?run={run_id}", "#roundtrips tbody tr.clickable", charts=True),
    Page("walkforward", "/walkforward", "#walkforward-form"),
    Page("admin", "/admin/", "#content"),
    Page("admin-runs", "/admin/backtests/run/", "#result_list"),
    Page("admin-run", "/admin/backtests/run/{failed_run_id}/change/", "pre.ost-pre"),
    Page("admin-coverage", "/admin/secmaster/coveragerow/", "#result_list"),
    Page("admin-preset", "/admin/secmaster/symbolpreset/Tech%20majors/change/", "#id_symbols"),
    Page("api-root", "/api/", ".response-info"),
    Page("api-runs", "/api/runs", ".response-info"),
    Page("api-backtest-form", "/api/backtest/run", "textarea[name=_content]"),
    Page("api-swagger-ui", "/api/docs/", ".swagger-ui .opblock"),
    Page("api-redoc", "/api/redoc/", "h1"),
]

# Elements reaching out of the viewport that no box of their own (scrolling or clipping,
# itself inside the viewport) holds; described by tag, id and class.
OUTSIDE_THE_VIEWPORT = """
() => {
  const width = document.documentElement.clientWidth;
  const inside = (r) => r.left >= -0.5 && r.right <= width + 0.5;
  const held = (e) => {
    for (let a = e.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const style = getComputedStyle(a);
      const clips = ["auto", "scroll", "hidden", "clip"].includes(style.overflowX);
      if (clips) return inside(a.getBoundingClientRect());
    }
    return false;
  };
  const out = [];
  for (const e of document.body.querySelectorAll("*")) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || inside(r) || held(e)) continue;
    const classes = typeof e.className === "string" ? e.className.trim().split(/\\s+/) : [];
    out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
      classes.filter(Boolean).map((c) => "." + c).join("") +
      " [" + Math.round(r.left) + ", " + Math.round(r.right) + "]");
  }
  return {scrollWidth: document.documentElement.scrollWidth, width: width, out: out.slice(0, 12)};
}
"""


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        username="walker", password=PASSWORD, is_staff=True, is_superuser=True
    )


def log_in(page, username: str) -> None:
    page.goto(page.base_url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/backtest")


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_is_wider_than_the_screen(browser, live_server, staff, tmp_path, width):
    site = site_with_runs(tmp_path)
    ids = {
        "run_id": site.run_id,
        "failed_run_id": site.failed_run_id,
        "long_run_id": site.long_run_id,
    }
    errors: list[str] = []
    anonymous = new_page(browser, live_server, width=width, height=900, errors=errors)
    logged_in = new_page(browser, live_server, width=width, height=900, errors=errors)
    log_in(logged_in, staff.username)
    problems = {}
    try:
        for spec in PAGES:
            page = anonymous if spec.anonymous else logged_in
            page.goto(page.base_url + spec.path.format(**ids))
            page.locator(spec.ready.format(**ids)).first.wait_for(state="visible")
            if spec.charts:
                page.wait_for_function(CHARTS_LOADED, timeout=60_000)
            found = page.evaluate(OUTSIDE_THE_VIEWPORT)
            if found["scrollWidth"] > found["width"] or found["out"]:
                problems[spec.name] = found
            if spec.name in problems or SCREENSHOT_EVERY_PAGE:
                screenshot(page, f"walk-{spec.name}-{width}")
    finally:
        anonymous.context.close()
        logged_in.context.close()
    assert problems == {}
    assert errors == []
