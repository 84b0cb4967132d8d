"""Project URLs: pages, the JSON API, the admin, login and the health probe."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from ostsite.login_throttle import ThrottledLoginForm, login_response_status
from ostsite.views import favicon, health

handler404 = "ostsite.exceptions.not_found_handler"
handler500 = "ostsite.database_busy.server_error"


class LoginView(auth_views.LoginView):
    """Django's login page, with failed logins throttled (the admin's: ostsite.admin_site)."""

    authentication_form = ThrottledLoginForm

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        return login_response_status(request, super().post(request, *args, **kwargs))


urlpatterns = [
    path("health", health, name="health"),
    path("favicon.ico", favicon, name="favicon"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/", include("secmaster.api.urls")),
    path("api/", include("backtests.api.urls")),
    path("api/", include("backtests.studies.api.urls")),
    path("api/", include("backtests.walkforward.api.urls")),
    path("", include("backtests.urls")),
    path("", include("backtests.studies.urls")),
    path("", include("backtests.walkforward.urls")),
]
