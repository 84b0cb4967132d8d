"""Pages."""

from django.urls import path
from django.views.generic import RedirectView

from backtests import views

urlpatterns = [
    path("", RedirectView.as_view(url="/backtest", permanent=False), name="index"),
    path("backtest", views.BacktestPageView.as_view(), name="backtest"),
    path("performance", views.PerformancePageView.as_view(), name="performance"),
    path("chart", views.ChartPageView.as_view(), name="chart"),
    path("compare", views.ComparePageView.as_view(), name="compare"),
]
