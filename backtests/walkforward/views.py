"""Pages of walk-forwards, rendered on the server (no script): the list with a form that
starts one, and one walk-forward (windows table, charts, verdict), which reloads itself every
few seconds while it runs. The form goes through the same validation and service as the API;
its errors are shown next to their fields."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views import View

from backtests.services.backtest_spec import publisher_resolve, strategy_classes
from backtests.studies.definition import OBJECTIVES
from backtests.views import BAR_PERIOD_CHOICES, DEFAULT_RTYPE
from backtests.walkforward.models import ACTIVE_WALKFORWARD_STATUSES, WalkForward
from backtests.walkforward.selectors import walkforward_as_dict, walkforwards_list
from backtests.walkforward.windows import MODES
from ostsite.errors import ServiceError
from ostsite.permissions import user_may_check

SPACE_NOT_JSON = (
    'space must be a JSON object, e.g. {{"fast_period": {{"values": [5, 10]}}}}: {error}'
)
REFRESH_SECONDS = 2
FORM_DEFAULTS = {
    "strategy": "SMACrossover",
    "symbols": "",
    "rtype": str(DEFAULT_RTYPE),
    "publisher_id": "",
    "start_date": "",
    "end_date": "",
    "space": '{"fast_period": {"values": [5, 10]}, "slow_period": {"values": [20, 40]}}',
    "constraints": "fast_period < slow_period",
    "objective": "net_pnl",
    "mode": "rolling",
    "in_sample_days": "60",
    "out_of_sample_days": "20",
    "step_days": "",
    "name": "",
}


def _body(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The service's fields from the form's texts; errors the form itself can tell."""
    errors: dict[str, str] = {}
    space: Any = None
    try:
        space = json.loads(form["space"] or "{}")
    except json.JSONDecodeError as exc:
        errors["space"] = SPACE_NOT_JSON.format(error=exc.msg)
    body: dict[str, Any] = {
        "strategy": form["strategy"],
        "symbols": [s.strip() for s in form["symbols"].split(",") if s.strip()],
        "rtype": form["rtype"],
        "publisher_id": form["publisher_id"],
        "start_date": form["start_date"] or None,
        "end_date": form["end_date"] or None,
        "space": space,
        "constraints": [c.strip() for c in form["constraints"].splitlines() if c.strip()],
        "objective": form["objective"],
        "mode": form["mode"],
        "in_sample_days": form["in_sample_days"],
        "out_of_sample_days": form["out_of_sample_days"],
        "step_days": form["step_days"] or None,
        "name": form["name"] or None,
    }
    return body, errors


class WalkForwardsPageView(View):
    """GET: the walk-forwards and the form; POST: start one (redirects to its page)."""

    template_name = "walkforward/walkforwards.html"

    def _render(
        self, request: HttpRequest, form: dict[str, str], errors: dict[str, str], status: int
    ) -> HttpResponse:
        context = {
            "page": "walkforward",
            "form": form,
            "errors": errors,
            "error_text": "; ".join(errors.values()),
            "walkforwards": [walkforward_as_dict(w) for w in walkforwards_list(limit=50)],
            "strategies": list(strategy_classes()),
            "bar_periods": BAR_PERIOD_CHOICES,
            "objectives": OBJECTIVES,
            "modes": MODES,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, dict(FORM_DEFAULTS), {}, 200)

    def post(self, request: HttpRequest) -> HttpResponse:
        from backtests.walkforward.definition import walkforward_definition_build
        from backtests.walkforward.services import walkforward_create

        form = {key: str(request.POST.get(key, default)) for key, default in FORM_DEFAULTS.items()}
        body, errors = _body(form)
        if errors:
            return self._render(request, form, errors, 400)
        try:
            if not form["publisher_id"].strip():  # the only one (or a list of the choices)
                body["publisher_id"] = publisher_resolve()
            definition = walkforward_definition_build(**body)
            walkforward = walkforward_create(definition=definition, owner=request.user)
        except ServiceError as exc:
            return self._render(request, form, exc.fields or {"form": exc.message}, exc.status)
        return HttpResponseRedirect(f"/walkforward/{walkforward.walkforward_id}")


def _walkforward(walkforward_id: str) -> WalkForward:
    found = None
    if "\x00" not in walkforward_id:
        found = WalkForward.objects.filter(walkforward_id=walkforward_id).first()
    if found is None:
        raise Http404(f"no walk-forward {walkforward_id!r}")
    return found


class WalkForwardPageView(View):
    """One walk-forward; POST cancels it (for those who may)."""

    template_name = "walkforward/walkforward.html"

    def get(self, request: HttpRequest, walkforward_id: str) -> HttpResponse:
        walkforward = _walkforward(walkforward_id)
        data = walkforward_as_dict(walkforward, detail=True, user=request.user)
        context = {
            "page": "walkforward",
            "wf": data,
            "active": walkforward.status in ACTIVE_WALKFORWARD_STATUSES,
            "refresh_seconds": REFRESH_SECONDS,
            "parameter_names": list(data["parameters"]),
            "message": request.GET.get("message", ""),
        }
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest, walkforward_id: str) -> HttpResponse:
        from backtests.walkforward.services import walkforward_cancel

        walkforward = _walkforward(walkforward_id)
        try:
            user_may_check(
                user=request.user,
                obj=walkforward,
                action="cancel",
                ident=walkforward.walkforward_id,
            )
            walkforward_cancel(walkforward_id=walkforward.walkforward_id)
        except ServiceError as exc:
            return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
        return HttpResponseRedirect(f"/walkforward/{walkforward.walkforward_id}")
