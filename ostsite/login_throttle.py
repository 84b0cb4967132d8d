"""Failed logins throttled per account and per address, for every way to log in.

``POST /api/auth/token``, ``/login/`` and ``/admin/login/`` each check a password, which
costs a quarter of a second of hashing: without a limit a script guesses passwords as fast
as the server hashes them. Failed attempts are counted per account (the username, case
folded) and per client address, each within a sliding window
(``OST_LOGIN_FAILURES_PER_ACCOUNT``, ``OST_LOGIN_FAILURES_PER_ADDRESS``, e.g. ``10/15m``).
Once either count is full, every attempt on that account or from that address is refused
with 429 and ``Retry-After`` until the oldest failure leaves the window, the right password
included (otherwise the limit would tell a guesser when they are right). Successful logins
are not counted and clear nothing.

The counts live in Django's cache, through DRF's throttle machinery (``SimpleRateThrottle``:
its cache, clock and client address, which honours ``NUM_PROXIES``). The cache must be one
that every web process shares (``CACHES`` in the settings: Redis, or files on one machine);
a per-process cache would multiply the limit by the number of processes.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

ACCOUNT_SCOPE = "login_account"
ADDRESS_SCOPE = "login_address"
LOGIN_THROTTLED = (
    "Too many failed logins for this account or from this address; try again in {wait} s."
)
RATE_FORMAT = re.compile(r"(?P<count>[0-9]+)/(?P<span>[0-9]*)(?P<unit>s|m|h|d)")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
WAIT_ATTRIBUTE = "login_throttle_wait"  # set on a request refused by the throttle


def rate_parse(rate: str) -> tuple[int, int]:
    """``"10/15m"`` -> (10 failures, 900 s): a count, then a window of an optional number
    of seconds (s), minutes (m), hours (h) or days (d)."""
    match = RATE_FORMAT.fullmatch(rate.strip())
    if match is None or int(match["count"]) < 1 or match["span"] == "0":
        raise ValueError(f"a login failure rate looks like 10/15m (count/window), got {rate!r}")
    return int(match["count"]), int(match["span"] or 1) * UNIT_SECONDS[match["unit"]]


class _FailureWindow(SimpleRateThrottle):
    """The failed logins of one account or one address, in Django's cache."""

    def __init__(self, scope: str, ident: str) -> None:
        self.scope = scope
        self.ident = ident
        super().__init__()  # the rate of ``scope`` from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]

    def get_rate(self) -> str | None:
        # Read now, not when DRF was imported (DRF's own throttles read a class attribute).
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def parse_rate(self, rate: str | None) -> tuple[int | None, int | None]:
        return (None, None) if rate is None else rate_parse(rate)

    def get_cache_key(self, request: Any = None, view: Any = None) -> str:
        digest = hashlib.sha256(self.ident.encode("utf-8", "backslashreplace")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}

    def _failures(self) -> list[float]:
        self.key = self.get_cache_key()
        self.now = self.timer()
        history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        self.history = history
        return history

    def seconds_blocked(self) -> float:
        """How long attempts stay refused (0 if they are allowed now)."""
        if self.rate is None:
            return 0.0
        history = self._failures()
        if len(history) < self.num_requests:
            return 0.0
        # The oldest failure that keeps the count full must leave the window.
        return max(history[self.num_requests - 1] + self.duration - self.now, 0.0)

    def failure_record(self) -> None:
        if self.rate is None:
            return
        history = self._failures()
        history.insert(0, self.now)
        self.cache.set(self.key, history[: self.num_requests], self.duration)


def _windows(request: HttpRequest, username: Any) -> list[_FailureWindow]:
    account = str(username or "").strip().casefold()[:300]
    address = _FailureWindow(ADDRESS_SCOPE, "").get_ident(request) or ""
    return [_FailureWindow(ACCOUNT_SCOPE, account), _FailureWindow(ADDRESS_SCOPE, address)]


def login_wait(*, request: HttpRequest, username: Any) -> int:
    """Whole seconds until ``username`` may try to log in from this request's address again
    (0: now)."""
    return math.ceil(max(window.seconds_blocked() for window in _windows(request, username)))


def login_failure_record(*, request: HttpRequest, username: Any) -> None:
    """Count one failed login of ``username`` and of this request's address."""
    for window in _windows(request, username):
        window.failure_record()


class LoginThrottled(Throttled):
    """The API's 429 for a throttled login; DRF's handler adds ``Retry-After: wait``."""

    def __init__(self, wait: int) -> None:
        super().__init__(detail=LOGIN_THROTTLED.format(wait=wait))
        self.wait = wait


def login_throttled_error(wait: int) -> Throttled:
    return LoginThrottled(wait)


def login_response_status(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """A login page refused by the throttle answers 429 with ``Retry-After``."""
    wait = getattr(request, WAIT_ATTRIBUTE, 0)
    if wait:
        response.status_code = 429
        response["Retry-After"] = str(wait)
    return response


class ThrottledLoginForm(AuthenticationForm):
    """Django's login form, refusing throttled attempts before checking the password and
    counting the failures."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": LOGIN_THROTTLED,
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        wait = login_wait(request=self.request, username=username)
        if wait:
            setattr(self.request, WAIT_ATTRIBUTE, wait)
            raise forms.ValidationError(
                self.error_messages["throttled"].format(wait=wait), code="throttled"
            )
        try:
            return super().clean()
        except forms.ValidationError:
            if self.user_cache is None:  # a wrong password, not an inactive account
                login_failure_record(request=self.request, username=username)
            raise


class ThrottledAdminLoginForm(ThrottledLoginForm, AdminAuthenticationForm):
    """The admin's login form (staff only), throttled the same way."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": LOGIN_THROTTLED,
    }
