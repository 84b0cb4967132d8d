"""Routes of the security master API, mounted under "api/" by ostsite.urls (no trailing slash).

Preset and publisher names are any text: they may contain '/' (send it raw or as %2F) and
line breaks, which Django's ``path`` converter would not match.
"""

from django.urls import path, register_converter

from ostsite.api_root import api_root
from secmaster.api import views


class AnyTextConverter:
    """One or more characters of any kind, '/' and line breaks included."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AnyTextConverter, "anytext")

urlpatterns = [
    path("", api_root, name="api-root"),
    path("auth/token", views.TokenObtainView.as_view(), name="api-token"),
    path("auth/token/rotate", views.TokenRotateView.as_view(), name="api-token-rotate"),
    path("secmaster/publishers", views.PublisherListView.as_view(), name="secmaster-publishers"),
    path(
        "secmaster/publishers/<anytext:name>/datasets",
        views.PublisherDatasetListView.as_view(),
        name="secmaster-publisher-datasets",
    ),
    path(
        "secmaster/symbols_coverage",
        views.SymbolCoverageListView.as_view(),
        name="secmaster-symbols-coverage",
    ),
    path("presets", views.PresetListView.as_view(), name="presets"),
    path("presets/<anytext:name>", views.PresetDetailView.as_view(), name="preset-detail"),
]
