"""The admin site: Django's, with failed logins throttled like every other login."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from ostsite.login_throttle import ThrottledAdminLoginForm, login_response_status


class SiteAdmin(admin.AdminSite):
    """``admin.site`` (set as the default site by ``ostsite.apps.SiteAdminConfig``)."""

    login_form = ThrottledAdminLoginForm

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return login_response_status(request, super().login(request, extra_context))
