"""Routes of the security master API, mounted under "api/" by ostsite.urls (no trailing slash).

Names use the ``path`` converter, so presets and publishers whose names contain '/' work
(send it raw or as %2F).
"""

from django.urls import path

from secmaster.api import views

urlpatterns = [
    path("", views.api_root, name="api-root"),
    path("auth/token", views.TokenObtainView.as_view(), name="api-token"),
    path("secmaster/publishers", views.PublisherListView.as_view(), name="secmaster-publishers"),
    path(
        "secmaster/publishers/<path:name>/datasets",
        views.PublisherDatasetListView.as_view(),
        name="secmaster-publisher-datasets",
    ),
    path(
        "secmaster/symbols_coverage",
        views.SymbolCoverageListView.as_view(),
        name="secmaster-symbols-coverage",
    ),
    path("presets", views.PresetListView.as_view(), name="presets"),
    path("presets/<path:name>", views.PresetDetailView.as_view(), name="preset-detail"),
]
