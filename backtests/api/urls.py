"""Backtests API routes (included under "api/"; no trailing slashes, as in the seeds)."""

from django.urls import path

from backtests.api import (
    chart_data_views,
    chart_views,
    compare_views,
    export_views,
    rerun_views,
    sensitivity_views,
    views,
)

urlpatterns = [
    path("runs", views.RunsView.as_view(), name="api-runs"),
    path("runs/compare", compare_views.CompareView.as_view(), name="api-runs-compare"),
    path(
        "runs/compare/overlay",
        compare_views.CompareOverlayView.as_view(),
        name="api-runs-compare-overlay",
    ),
    path("runs/compare.png", compare_views.ComparePngView.as_view(), name="api-runs-compare-png"),
    path("runs/<str:run_id>", views.RunDetailView.as_view(), name="api-run"),
    path(
        "runs/<str:run_id>/roundtrips", views.RunRoundtripsView.as_view(), name="api-run-roundtrips"
    ),
    path("runs/<str:run_id>/metrics", views.RunMetricsView.as_view(), name="api-run-metrics"),
    path("runs/<str:run_id>/symbols", views.RunSymbolsView.as_view(), name="api-run-symbols"),
    path("runs/<str:run_id>/chart.png", chart_views.TradeChartView.as_view(), name="api-run-chart"),
    path(
        "runs/<str:run_id>/window.png",
        chart_views.WindowChartView.as_view(),
        name="api-run-window-chart",
    ),
    path(
        "runs/<str:run_id>/trade-journey.png",
        chart_views.TradeJourneyView.as_view(),
        name="api-run-trade-journey",
    ),
    path(
        "runs/<str:run_id>/pnl-summary.png",
        chart_views.PnlSummaryView.as_view(),
        name="api-run-pnl-summary",
    ),
    path(
        "runs/<str:run_id>/chart-data",
        chart_data_views.ChartDataView.as_view(),
        name="api-run-chart-data",
    ),
    path(
        "runs/<str:run_id>/equity",
        chart_data_views.EquityDataView.as_view(),
        name="api-run-equity-data",
    ),
    path("runs/<str:run_id>/equity.png", chart_views.EquityView.as_view(), name="api-run-equity"),
    path(
        "runs/<str:run_id>/sensitivity",
        sensitivity_views.RunSensitivityView.as_view(),
        name="api-run-sensitivity",
    ),
    path(
        "runs/<str:run_id>/sensitivity.png",
        sensitivity_views.RunSensitivityChartView.as_view(),
        name="api-run-sensitivity-png",
    ),
    path(
        "runs/<str:run_id>/bar-window",
        chart_views.BarWindowView.as_view(),
        name="api-run-bar-window",
    ),
    path(
        "runs/<str:run_id>/export.zip",
        export_views.RunExportZipView.as_view(),
        name="api-run-export-zip",
    ),
    path("runs/<str:run_id>/rerun", rerun_views.RunRerunView.as_view(), name="api-run-rerun"),
    path(
        "runs/<str:run_id>/export/<str:file>",
        export_views.RunExportFileView.as_view(),
        name="api-run-export-file",
    ),
    path("strategies", views.StrategiesView.as_view(), name="api-strategies"),
    path("strategies/<str:strategy_id>", views.StrategyDetailView.as_view(), name="api-strategy"),
    path("backtest/run", views.BacktestRunView.as_view(), name="api-backtest-run"),
    path("backtest/validate", views.BacktestValidateView.as_view(), name="api-backtest-validate"),
    path("backtest/running", views.BacktestRunningView.as_view(), name="api-backtest-running"),
    path(
        "backtest/status/<str:run_id>",
        views.BacktestStatusView.as_view(),
        name="api-backtest-status",
    ),
    path(
        "backtest/<str:run_id>/cancel",
        views.BacktestCancelView.as_view(),
        name="api-backtest-cancel",
    ),
]
