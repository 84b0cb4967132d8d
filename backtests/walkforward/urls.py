"""Pages of walk-forwards."""

from django.urls import path

from backtests.walkforward import views

urlpatterns = [
    path("walkforward", views.WalkForwardsPageView.as_view(), name="walkforwards"),
    path(
        "walkforward/<str:walkforward_id>",
        views.WalkForwardPageView.as_view(),
        name="walkforward",
    ),
]
