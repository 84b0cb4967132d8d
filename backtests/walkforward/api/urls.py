"""Walk-forward API routes (included under "api/"; no trailing slashes, as the rest)."""

from django.urls import path

from backtests.walkforward.api import views

urlpatterns = [
    path("walkforwards", views.WalkForwardsView.as_view(), name="api-walkforwards"),
    path(
        "walkforwards/<str:walkforward_id>",
        views.WalkForwardView.as_view(),
        name="api-walkforward",
    ),
    path(
        "walkforwards/<str:walkforward_id>/cancel",
        views.WalkForwardCancelView.as_view(),
        name="api-walkforward-cancel",
    ),
    path(
        "walkforwards/<str:walkforward_id>/resume",
        views.WalkForwardResumeView.as_view(),
        name="api-walkforward-resume",
    ),
    path(
        "walkforwards/<str:walkforward_id>/equity.png",
        views.EquityChartView.as_view(),
        name="api-walkforward-equity",
    ),
    path(
        "walkforwards/<str:walkforward_id>/parameters.png",
        views.ParametersChartView.as_view(),
        name="api-walkforward-parameters",
    ),
]
