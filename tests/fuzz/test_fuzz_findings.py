"""What the API fuzzer found, pinned down as plain tests (see test_api_fuzz.py)."""

from __future__ import annotations

import json

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
    assert read.json()["name"] == NAME_WITH_LINE_BREAK
    assert read.json()["symbols"] == ["AAPL"]

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


# --- issue 12, item 4: input that got a 500, a traceback, or was wrongly accepted --------------


@pytest.fixture
def backtest_body(tmp_path) -> dict:
    """A valid POST /api/backtest/run body over ingested AAPL minute bars."""
    from tests.backtests.market_data import ingest_bars, minute_bars

    publisher_id = ingest_bars(
        tmp_path,
        bars=minute_bars(10, "2024-01-02T14:30", 60),
        mappings={"AAPL": [("2024-01-02", "2024-01-10", 10)]},
    )
    return {
        "strategy": "SMACrossover",
        "strategy_params": {"fast_period": 5, "slow_period": 10},
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": publisher_id,
    }


def post_raw(client, url: str, text: str | bytes, method: str = "post"):
    """Send ``text`` as the JSON body, byte for byte (lone surrogates as \\udXXX escapes)."""
    return getattr(client, method)(url, data=text, content_type="application/json")


def refused(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    return response.json()


UNUSABLE_NUMBERS_AND_DATES = [
    ("rtype", "²", "RTYPE_INVALID"),
    ("rtype", "³³", "RTYPE_INVALID"),
    ("rtype", "٣٣", "RTYPE_INVALID"),
    ("rtype", "3" * 5000, "RTYPE_INVALID"),
    ("publisher_id", "²", "PUBLISHER_INVALID"),
    ("publisher_id", "1" * 5000, "PUBLISHER_INVALID"),
    ("publisher_id", 2**63, "PUBLISHER_INVALID"),
    ("publisher_id", -(10**30), "PUBLISHER_INVALID"),
    ("commission_per_unit", 10**400, "COMMISSION_INVALID"),
    ("minimum_commission", -(10**400), "COMMISSION_INVALID"),
    ("commission_per_unit", "١", "COMMISSION_INVALID"),
    ("start_date", "2024-W01-1", "DATE_INVALID"),
    ("start_date", "２０２４-01-02", "DATE_INVALID"),
    ("end_date", "9999-12-31", "DATE_OUT_OF_RANGE"),
    ("start_date", "0001-01-01", "DATE_OUT_OF_RANGE"),
]


def test_backtest_request_with_unusable_number_or_date_is_refused_naming_the_field(
    api_client, backtest_body
):
    from backtests.models import Run
    from backtests.services import backtest_spec

    for field, value, message in UNUSABLE_NUMBERS_AND_DATES:
        body = {**backtest_body, field: value}
        fields = refused(post_raw(api_client, "/api/backtest/run", json.dumps(body)))["fields"]
        expected = getattr(backtest_spec, message).format(
            valid="32 (SECOND), 33 (MINUTE), 34 (HOUR), 35 (DAY)",
            field=field,
            value=value,
            first="1677-09-22",
            last="2262-04-10",
        )
        assert fields == {field: expected}, (field, str(value)[:20])
    assert not Run.objects.exists()


def test_dates_at_the_edges_of_64_bit_nanoseconds_are_accepted(api_client, backtest_body):
    # 2262-04-10 ends at 2262-04-11 00:00 UTC = 9,223,286,400 s, below 2**63 ns (9,223,372,036 s);
    # 1677-09-22 00:00 UTC = -9,223,286,400 s, above -2**63 ns.
    body = {**backtest_body, "start_date": "1677-09-22", "end_date": "2262-04-10"}
    response = post_raw(api_client, "/api/backtest/run", json.dumps(body))
    assert response.status_code == 200, response.json()


def test_strategy_parameters_in_other_digits_or_beyond_floats_are_refused(
    api_client, backtest_body
):
    for params, name in [
        ({"fast_period": "٥", "slow_period": 10}, "fast_period"),
        ({"fast_period": 5, "slow_period": 10, "quantity": "١"}, "quantity"),
        ({"fast_period": 5, "slow_period": 10, "quantity": 10**400}, "quantity"),
    ]:
        body = {**backtest_body, "strategy_params": params}
        fields = refused(post_raw(api_client, "/api/backtest/run", json.dumps(body)))["fields"]
        assert fields["strategy_params"].startswith(f"{name}: expected "), fields


LONE_SURROGATE = (
    "JSON string at {path} holds a lone surrogate (\\ud800), which is not valid Unicode text"
)


SURROGATE_CASES = [
    ("/api/backtest/run", "post", {"symbols": ["AAPL", "\ud800"]}, "$.symbols[1]"),
    ("/api/backtest/run", "post", {"strategy_params": {"\ud800": 1}}, "$.strategy_params.\\ud800"),
    ("/api/backtest/run", "post", {"name": "run \ud800"}, "$.name"),
    ("/api/runs", "delete", {"run_ids": ["\ud800"]}, "$.run_ids[0]"),
    ("/api/presets", "post", {"name": "\ud800", "symbols": ["AAPL"]}, "$.name"),
    ("/api/presets/Tech", "put", {"symbols": ["\ud800"]}, "$.symbols[0]"),
    ("/api/auth/token", "post", {"username": "\ud800", "password": "x"}, "$.username"),
]


def test_json_with_a_lone_surrogate_is_refused_naming_where(api_client):
    for url, method, body, where in SURROGATE_CASES:
        text = json.dumps(body)  # escapes the surrogate as \ud800, as any JSON client does
        assert "\\ud800" in text
        error = refused(post_raw(api_client, url, text, method))["error"]
        assert error == LONE_SURROGATE.format(path=where), url


DEEP_CASES = [
    ("/api/backtest/run", "post", "{deep}"),
    ("/api/backtest/run", "post", '{{"strategy_params": {deep}}}'),
    ("/api/presets", "post", '{{"name": "x", "symbols": {deep}}}'),
    ("/api/presets/Tech", "put", '{{"symbols": {deep}}}'),
    ("/api/runs", "delete", '{{"run_ids": {deep}}}'),
    ("/api/auth/token", "post", '{{"username": {deep}}}'),
]


@pytest.mark.parametrize("depth", [33, 10_000, 100_000])
def test_json_nested_too_deep_is_refused(api_client, depth):
    from ostsite.json_input import JSON_TOO_DEEP

    deep = "[" * depth + "]" * depth
    for url, method, template in DEEP_CASES:
        error = refused(post_raw(api_client, url, template.format(deep=deep), method))["error"]
        assert error == JSON_TOO_DEEP, url


def test_body_over_the_upload_limit_is_a_json_413(api_client, settings):
    from ostsite.exceptions import BODY_TOO_BIG

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "big", "symbols": ["A"] * 1000})
    error = refused(post_raw(api_client, "/api/presets", body), 413)["error"]
    assert (
        error
        == BODY_TOO_BIG.format(limit=1000)
        == ("The request body is larger than the limit of 1,000 bytes")
    )


def test_query_numbers_in_other_digits_are_refused(api_client):
    from ostsite.api_fields import ASCII_DIGITS_ONLY

    for url in [
        "/api/secmaster/symbols_coverage?rtype=²",
        "/api/secmaster/symbols_coverage?rtype=١",
        "/api/secmaster/symbols_coverage?publisher_id=٣",
        "/api/secmaster/symbols_coverage?rtype=33&publisher_id=１",
        "/api/secmaster/publishers?rtype=３３",
        "/api/runs?limit=٥",
    ]:
        fields = refused(api_client.get(url))["fields"]
        assert list(fields.values()) == [ASCII_DIGITS_ONLY], url


ADMIN_URLS_WITH_NUL = [
    "/admin/backtests/run/?status=%00",
    "/admin/backtests/run/?status__exact=%00",
    "/admin/backtests/run/?q=a%00b",
    "/admin/backtests/run/%00/change/",
    "/admin/backtests/run/run%00/delete/",
    "/admin/secmaster/symbolpreset/%00/change/",
    "/admin/secmaster/symbologyrow/%00/change/",
    "/admin/secmaster/coveragerow/%00/change/",
    "/admin/secmaster/publisher/?dataset=%00",
    "/performance?run=%00",
]


def test_admin_and_page_urls_with_nul_are_a_400_on_every_database(admin_client):
    from ostsite.middleware import NUL_IN_URL

    for url in ADMIN_URLS_WITH_NUL:
        response = admin_client.get(url)
        assert (response.status_code, response.content.decode()) == (400, NUL_IN_URL), url
    assert admin_client.get("/admin/backtests/run/?status=running").status_code == 200


def test_admin_preset_symbols_nested_deep_are_a_form_error(admin_client):
    from ostsite.json_input import JSON_TOO_DEEP
    from secmaster.admin import SYMBOLS_BAD_JSON
    from secmaster.models import SymbolPreset

    deep = "[" * 10_000 + "]" * 10_000
    response = admin_client.post(
        "/admin/secmaster/symbolpreset/add/", {"name": "deep", "symbols": deep}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["symbols"] == [
        SYMBOLS_BAD_JSON.format(error=JSON_TOO_DEEP)
    ]
    assert not SymbolPreset.objects.exists()
