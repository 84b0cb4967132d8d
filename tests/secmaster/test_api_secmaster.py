"""GET /api/secmaster/*: publishers, datasets and symbol coverage, with their filters."""

from __future__ import annotations

import pytest

from secmaster.api.serializers import RTYPE_CHOICES_MESSAGE
from secmaster.models import Publisher, SymbolCoverage

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

JAN_2024_NS = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z, beyond a float's exact range
DAY_NS = 86_400 * 10**9


@pytest.fixture
def secmaster_data() -> None:
    """Four publishers (ids chosen so id order differs from name order) and five coverage rows."""
    alpaca = Publisher.objects.create(publisher_id=5, name="alpaca", dataset="IEX", venue="IEX")
    xnas = Publisher.objects.create(
        publisher_id=10, name="databento", dataset="XNAS.ITCH", venue="XNAS"
    )
    glbx = Publisher.objects.create(
        publisher_id=20, name="databento", dataset="GLBX.MDP3", venue="GLBX"
    )
    Publisher.objects.create(publisher_id=40, name="zeta", dataset="Z.ONE", venue="Z")
    for publisher, symbol, rtype, min_ts, max_ts in [
        (xnas, "MSFT", 33, JAN_2024_NS + 1, JAN_2024_NS + DAY_NS + 1),
        (xnas, "AAPL", 33, JAN_2024_NS + 7, JAN_2024_NS + 2 * DAY_NS + 7),
        (xnas, "AAPL", 35, JAN_2024_NS, JAN_2024_NS + 9 * DAY_NS),
        (glbx, "ESZ4", 33, JAN_2024_NS + 3, JAN_2024_NS + 4),
        (alpaca, "AAPL", 35, 1_000, 2_000),
    ]:
        SymbolCoverage.objects.create(
            publisher=publisher, symbol=symbol, rtype=rtype, min_ts=min_ts, max_ts=max_ts
        )


def _cov(publisher_id: int, symbol: str, rtype: int, min_ts: int, max_ts: int) -> dict:
    return {
        "publisher_id": publisher_id,
        "symbol": symbol,
        "rtype": rtype,
        "min_ts": min_ts,
        "max_ts": max_ts,
    }


AAPL_33 = _cov(10, "AAPL", 33, JAN_2024_NS + 7, JAN_2024_NS + 2 * DAY_NS + 7)
AAPL_35_XNAS = _cov(10, "AAPL", 35, JAN_2024_NS, JAN_2024_NS + 9 * DAY_NS)
AAPL_35_ALPACA = _cov(5, "AAPL", 35, 1_000, 2_000)
ESZ4_33 = _cov(20, "ESZ4", 33, JAN_2024_NS + 3, JAN_2024_NS + 4)
MSFT_33 = _cov(10, "MSFT", 33, JAN_2024_NS + 1, JAN_2024_NS + DAY_NS + 1)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["alpaca", "databento", "zeta"]),
        ("?rtype=33", ["databento"]),
        ("?rtype=35", ["alpaca", "databento"]),
        ("?rtype=32", []),
    ],
)
def test_publishers_with_filter_lists_distinct_sorted_names(
    api_client, secmaster_data, query, expected
):
    response = api_client.get(f"/api/secmaster/publishers{query}")
    assert response.status_code == 200
    assert response.json() == {"publishers": expected}


def test_publishers_empty_security_master_lists_nothing(api_client):
    response = api_client.get("/api/secmaster/publishers")
    assert response.status_code == 200
    assert response.json() == {"publishers": []}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "/api/secmaster/publishers/databento/datasets",
            [
                {"publisher_id": 20, "dataset": "GLBX.MDP3"},
                {"publisher_id": 10, "dataset": "XNAS.ITCH"},
            ],
        ),
        (
            "/api/secmaster/publishers/databento/datasets?rtype=33",
            [
                {"publisher_id": 20, "dataset": "GLBX.MDP3"},
                {"publisher_id": 10, "dataset": "XNAS.ITCH"},
            ],
        ),
        (
            "/api/secmaster/publishers/databento/datasets?rtype=35",
            [{"publisher_id": 10, "dataset": "XNAS.ITCH"}],
        ),
        ("/api/secmaster/publishers/zeta/datasets", [{"publisher_id": 40, "dataset": "Z.ONE"}]),
        ("/api/secmaster/publishers/zeta/datasets?rtype=33", []),
        ("/api/secmaster/publishers/nobody/datasets", []),
        ("/api/secmaster/publishers/nul%00name/datasets", []),
    ],
)
def test_datasets_of_publisher_lists_sorted_by_dataset(api_client, secmaster_data, url, expected):
    response = api_client.get(url)
    assert response.status_code == 200
    assert response.json() == {"datasets": expected}


@pytest.mark.parametrize(
    "url",
    [
        "/api/secmaster/publishers/my/feed é/datasets",
        "/api/secmaster/publishers/my%2Ffeed%20%C3%A9/datasets",
    ],
)
def test_datasets_publisher_name_with_slash_space_unicode_is_found(api_client, url):
    Publisher.objects.create(publisher_id=7, name="my/feed é", dataset="A.B", venue="A")
    response = api_client.get(url)
    assert response.status_code == 200
    assert response.json() == {"datasets": [{"publisher_id": 7, "dataset": "A.B"}]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [AAPL_33, AAPL_35_ALPACA, AAPL_35_XNAS, ESZ4_33, MSFT_33]),
        ("?publisher_id=10", [AAPL_33, AAPL_35_XNAS, MSFT_33]),
        ("?rtype=35", [AAPL_35_ALPACA, AAPL_35_XNAS]),
        ("?rtype=33", [AAPL_33, ESZ4_33, MSFT_33]),
        ("?publisher_id=10&rtype=33", [AAPL_33, MSFT_33]),
        ("?publisher_id=40", []),
        ("?publisher_id=999", []),
    ],
)
def test_symbols_coverage_with_filters_lists_rows_in_seed_order(
    api_client, secmaster_data, query, expected
):
    response = api_client.get(f"/api/secmaster/symbols_coverage{query}")
    assert response.status_code == 200
    assert response.json() == {"symbols": expected}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/secmaster/publishers?rtype=abc", "rtype"),
        ("/api/secmaster/publishers?rtype=3.5", "rtype"),
        ("/api/secmaster/publishers?rtype=31", "rtype"),
        ("/api/secmaster/publishers?rtype=37", "rtype"),
        ("/api/secmaster/publishers/databento/datasets?rtype=x", "rtype"),
        ("/api/secmaster/publishers/databento/datasets?rtype=99", "rtype"),
        ("/api/secmaster/symbols_coverage?rtype=1e3", "rtype"),
        ("/api/secmaster/symbols_coverage?rtype=0", "rtype"),
        ("/api/secmaster/symbols_coverage?publisher_id=abc", "publisher_id"),
        ("/api/secmaster/symbols_coverage?publisher_id=0", "publisher_id"),
        ("/api/secmaster/symbols_coverage?publisher_id=99999999999999999999", "publisher_id"),
        ("/api/secmaster/symbols_coverage?publisher_id=10&rtype=abc", "rtype"),
    ],
)
def test_secmaster_malformed_filter_answers_400_naming_field(api_client, url, field):
    response = api_client.get(url)
    assert response.status_code == 400
    body = response.json()
    assert list(body["fields"]) == [field]
    assert field in body["error"]


def test_secmaster_empty_filter_value_means_no_filter(api_client, secmaster_data):
    # DRF's form convention: an empty optional value is treated as absent.
    response = api_client.get("/api/secmaster/symbols_coverage?publisher_id=&rtype=")
    assert response.status_code == 200
    assert len(response.json()["symbols"]) == 5


@pytest.mark.parametrize("rtype", ["31", "37", "99"])
def test_secmaster_rtype_outside_range_says_which_values(api_client, rtype):
    response = api_client.get(f"/api/secmaster/publishers?rtype={rtype}")
    assert response.status_code == 400
    assert response.json()["fields"] == {"rtype": RTYPE_CHOICES_MESSAGE}
    assert RTYPE_CHOICES_MESSAGE == "rtype must be one of 32, 33, 34, 35, 36."


def test_secmaster_browser_request_renders_browsable_api(api_client, secmaster_data):
    response = api_client.get("/api/secmaster/publishers", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Django REST framework" in response.content
    assert b"databento" in response.content


# --- OpenAPI schema ---------------------------------------------------------------------

SECMASTER_PATHS = {
    "/api/": {"get"},
    "/api/auth/token": {"post", "delete"},
    "/api/auth/token/rotate": {"post"},
    "/api/secmaster/publishers": {"get"},
    "/api/secmaster/publishers/{name}/datasets": {"get"},
    "/api/secmaster/symbols_coverage": {"get"},
    "/api/presets": {"get", "post"},
    "/api/presets/{name}": {"get", "put", "delete"},
}


def test_schema_endpoint_serves_openapi_document(api_client):
    response = api_client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.0")


def test_schema_json_documents_every_secmaster_route(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for route, methods in SECMASTER_PATHS.items():
        assert set(paths[route]) == methods, route
    presets_post = paths["/api/presets"]["post"]
    assert set(presets_post["responses"]) == {"201", "400", "401", "409"}


def test_schema_of_secmaster_views_is_valid_without_warnings():
    from django.urls import include, path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/", include("secmaster.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    validate_schema(schema)  # raises on an invalid document
    assert not GENERATOR_STATS._warn_cache
    assert not GENERATOR_STATS._error_cache
    assert set(schema["paths"]) == set(SECMASTER_PATHS)
