"""Pages: the backtest workbench, the performance of a run, and a run's chart browser.

The pages are thin HTML shells; their JavaScript (static/js/) talks to the JSON API. Each view
sets the CSRF cookie so the scripts can send it back on POST/PUT/DELETE. Login is enforced by
ostsite.middleware.PageLoginRequiredMiddleware.
"""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.generic import TemplateView

from ostsite.manage_hint import manage_command

# rtype -> bar period, as the security master stores them (DESIGN.md section 3).
BAR_PERIOD_CHOICES: tuple[tuple[int, str, str], ...] = (
    (32, "SECOND", "Second (ohlcv-1s)"),
    (33, "MINUTE", "Minute (ohlcv-1m)"),
    (34, "HOUR", "Hour (ohlcv-1h)"),
    (35, "DAY", "Day (ohlcv-1d)"),
)
DEFAULT_RTYPE = 33

RECORD_CHOICES: tuple[tuple[str, str], ...] = (
    ("full", "Full: bars, indicators, orders"),
    ("trades", "Trades only: orders and fills"),
)

INGEST_ARGUMENTS = "ingest_databento PATH"
DEMO_ARGUMENTS = "make_demo_data"


@method_decorator(ensure_csrf_cookie, name="dispatch")
class PageView(TemplateView):
    """A page shell whose script needs the CSRF cookie."""

    page: str = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["page"] = self.page
        context["ingest_hint"] = manage_command(INGEST_ARGUMENTS)
        context["demo_hint"] = manage_command(DEMO_ARGUMENTS)
        return context


class BacktestPageView(PageView):
    template_name = "backtests/backtest.html"
    page = "backtest"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["bar_periods"] = BAR_PERIOD_CHOICES
        context["default_rtype"] = DEFAULT_RTYPE
        context["record_choices"] = RECORD_CHOICES
        return context


class PerformancePageView(PageView):
    template_name = "backtests/performance.html"
    page = "performance"

    def get_context_data(self, **kwargs):
        from backtests.export.tables import EXPORT_TABLES

        context = super().get_context_data(**kwargs)
        context["export_tables"] = list(EXPORT_TABLES.values())  # the Export menu's rows
        return context


class ChartPageView(PageView):
    template_name = "backtests/chart.html"
    page = "chart"


class ComparePageView(PageView):
    """Runs side by side (``?run_ids=a,b``); its script reads ``GET /api/runs/compare``."""

    template_name = "backtests/compare.html"
    page = "compare"
