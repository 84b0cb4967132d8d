"""Project URLs: pages, the JSON API, the admin, login and the health probe."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from ostsite.views import health

handler404 = "ostsite.exceptions.not_found_handler"

urlpatterns = [
    path("health", health, name="health"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("secmaster.api.urls")),
    path("api/", include("backtests.api.urls")),
    path("api/", include("backtests.studies.api.urls")),
    path("", include("backtests.urls")),
    path("", include("backtests.studies.urls")),
]
