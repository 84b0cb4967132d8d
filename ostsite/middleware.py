"""Login for pages; the API answers for itself."""

from __future__ import annotations

from django.contrib.auth.middleware import LoginRequiredMiddleware
from rest_framework.views import APIView


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Redirect anonymous visitors of pages to the login page.

    DRF views are left to DRF's own authentication, so that a script without credentials
    gets a JSON 401/403 rather than a redirect to an HTML form.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)
        if view_class is not None and issubclass(view_class, APIView):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
