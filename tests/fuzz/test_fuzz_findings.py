"""What the API fuzzer found, pinned down as plain tests (see test_api_fuzz.py)."""

from __future__ import annotations

import pytest
from django.urls import include, path
from drf_spectacular.generators import SchemaGenerator

from tests.conftest import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

NAME_WITH_LINE_BREAK = "Week\nend"
NAME_IN_URL = "Week%0Aend"


def test_preset_named_with_a_line_break_can_be_read_updated_and_deleted(api_client):
    created = api_client.post(
        "/api/presets", {"name": NAME_WITH_LINE_BREAK, "symbols": ["AAPL"]}, format="json"
    )
    assert created.status_code == 201

    read = api_client.get(f"/api/presets/{NAME_IN_URL}")
    assert read.status_code == 200
    assert read.json() == {"name": NAME_WITH_LINE_BREAK, "symbols": ["AAPL"]}

    updated = api_client.put(f"/api/presets/{NAME_IN_URL}", {"symbols": ["MSFT"]}, format="json")
    assert updated.json() == {"status": "updated", "name": NAME_WITH_LINE_BREAK}
    assert api_client.get(f"/api/presets/{NAME_IN_URL}").json()["symbols"] == ["MSFT"]

    deleted = api_client.delete(f"/api/presets/{NAME_IN_URL}")
    assert deleted.json() == {"status": "deleted", "name": NAME_WITH_LINE_BREAK}
    assert api_client.get("/api/presets").json() == {"presets": []}


def test_datasets_of_a_publisher_named_with_a_line_break_is_an_empty_list(api_client):
    response = api_client.get(f"/api/secmaster/publishers/{NAME_IN_URL}/datasets")
    assert response.status_code == 200
    assert response.json() == {"datasets": []}


@pytest.mark.parametrize(
    "url", ["/api/nothing-here", "/api/runs/a%2Fb/metrics", "/api/runs/x/metrics/extra"]
)
def test_api_url_matching_no_route_is_a_json_404(api_client, url):
    response = api_client.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"].startswith("Not found: no API route matches /api/")


def test_page_url_matching_no_route_is_still_an_html_404(api_client):
    response = api_client.get("/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def _schema() -> dict:
    patterns = [
        path("api/", include("secmaster.api.urls")),
        path("api/", include("backtests.api.urls")),
    ]
    return SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)


def test_schema_documents_the_body_of_delete_runs():
    body = _schema()["paths"]["/api/runs"]["delete"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunsDelete"
    }


def test_every_error_answer_uses_the_one_error_component():
    schema = _schema()
    refs = {
        media["schema"]["$ref"]
        for item in schema["paths"].values()
        for operation in item.values()
        for status, answer in operation["responses"].items()
        if int(status) >= 400
        for media in answer["content"].values()
    }
    assert refs == {"#/components/schemas/Error"}
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error", "fields"}
