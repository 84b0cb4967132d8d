"""Pages."""

from django.urls import path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/backtest", permanent=False), name="index"),
]
