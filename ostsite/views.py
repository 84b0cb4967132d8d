"""Site-level views: the health probe and the site icon."""

from functools import cache

from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles import finders
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_safe

FAVICON = "favicon.ico"
FAVICON_MAX_AGE_SECONDS = 7 * 24 * 3600


@login_not_required
@require_GET
def health(request):
    """Liveness probe for load balancers and scripts; needs no login."""
    return JsonResponse({"status": "ok"})


@cache
def _favicon_bytes() -> bytes:
    with open(finders.find(FAVICON), "rb") as icon:
        return icon.read()


@login_not_required
@require_safe
def favicon(request):
    """``/favicon.ico``, which browsers ask for on every page (the login page and the admin
    included, so it needs no login). Pages also link ``static/favicon.svg``."""
    response = HttpResponse(_favicon_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = f"public, max-age={FAVICON_MAX_AGE_SECONDS}"
    return response
