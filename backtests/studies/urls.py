"""Pages of studies."""

from django.urls import path

from backtests.studies import views

urlpatterns = [
    path("studies", views.StudiesPageView.as_view(), name="studies"),
    path("studies/<str:study_id>", views.StudyPageView.as_view(), name="study"),
]
