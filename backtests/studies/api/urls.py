"""Studies API routes (included under "api/"; no trailing slashes, as the rest of the API)."""

from django.urls import path

from backtests.studies.api import views

urlpatterns = [
    path("studies", views.StudiesView.as_view(), name="api-studies"),
    path("studies/<str:study_id>", views.StudyView.as_view(), name="api-study"),
    path("studies/<str:study_id>/trials", views.StudyTrialsView.as_view(), name="api-study-trials"),
    path(
        "studies/<str:study_id>/trials/<int:number>",
        views.StudyTrialView.as_view(),
        name="api-study-trial",
    ),
    path(
        "studies/<str:study_id>/trials/<int:number>/run",
        views.TrialRunView.as_view(),
        name="api-study-trial-run",
    ),
    path("studies/<str:study_id>/cancel", views.StudyCancelView.as_view(), name="api-study-cancel"),
    path("studies/<str:study_id>/resume", views.StudyResumeView.as_view(), name="api-study-resume"),
    path("studies/<str:study_id>/extend", views.StudyExtendView.as_view(), name="api-study-extend"),
    path(
        "studies/<str:study_id>/overfitting",
        views.StudyOverfittingView.as_view(),
        name="api-study-overfitting",
    ),
    path(
        "studies/<str:study_id>/heatmap.png", views.HeatmapView.as_view(), name="api-study-heatmap"
    ),
    path(
        "studies/<str:study_id>/sensitivity.png",
        views.SensitivityView.as_view(),
        name="api-study-sensitivity",
    ),
    path(
        "studies/<str:study_id>/objective.png",
        views.ObjectiveView.as_view(),
        name="api-study-objective",
    ),
    path(
        "studies/<str:study_id>/importance.png",
        views.ImportanceView.as_view(),
        name="api-study-importance",
    ),
    path("studies/<str:study_id>/pbo.png", views.PboView.as_view(), name="api-study-pbo"),
]
