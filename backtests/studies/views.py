"""Pages of studies: the list and one study. Thin HTML shells; their scripts
(static/js/studies.js, static/js/study.js) talk to the studies API."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404

from backtests.studies.models import Study
from backtests.views import PageView


class StudiesPageView(PageView):
    template_name = "studies/studies.html"
    page = "studies"


class StudyPageView(PageView):
    template_name = "studies/study.html"
    page = "studies"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        study_id = kwargs["study_id"]
        if "\x00" in study_id or not Study.objects.filter(study_id=study_id).exists():
            raise Http404(f"no study {study_id!r}")
        context["study_id"] = study_id
        context["compare_max"] = settings.OST_COMPARE_MAX_RUNS
        return context
