"""/api/presets: list, create, read, update, delete; names and symbol rules; error statuses."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from secmaster.models import SymbolPreset
from secmaster.services import presets as rules

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])


def _post(client, body):
    return client.post("/api/presets", body, format="json")


def _put(client, name, body):
    return client.put(f"/api/presets/{quote(name, safe='')}", body, format="json")


def test_presets_list_empty_answers_empty_list(api_client):
    response = api_client.get("/api/presets")
    assert response.status_code == 200
    assert response.json() == {"presets": []}


def test_presets_list_sorts_names(api_client):
    for name in ["tech", "Banks", "energy"]:
        SymbolPreset.objects.create(name=name, symbols=["X"])
    assert api_client.get("/api/presets").json() == {"presets": ["Banks", "energy", "tech"]}


def test_preset_create_then_get_round_trips(api_client):
    response = _post(api_client, {"name": "tech", "symbols": ["AAPL", "MSFT"]})
    assert response.status_code == 201
    assert response.json() == {"status": "created", "name": "tech"}
    assert SymbolPreset.objects.get(name="tech").symbols == ["AAPL", "MSFT"]
    response = api_client.get("/api/presets/tech")
    assert response.status_code == 200
    assert response.json() == {
        "name": "tech",
        "symbols": ["AAPL", "MSFT"],
        "owner": "alice",
        "can_change": True,
        "can_delete": True,
    }


def test_preset_create_strips_name_and_symbols_keeps_case_and_order(api_client):
    response = _post(api_client, {"name": "  My tech  ", "symbols": [" msft", "AAPL \t", "BRK.B"]})
    assert response.status_code == 201
    assert response.json() == {"status": "created", "name": "My tech"}
    assert SymbolPreset.objects.get(name="My tech").symbols == ["msft", "AAPL", "BRK.B"]


@pytest.mark.parametrize("name", ["my tech stocks", "Überblick € 日本", "energy/oil", "a?b#c%d"])
def test_preset_odd_name_works_through_every_route(api_client, name):
    path = f"/api/presets/{quote(name, safe='')}"
    assert _post(api_client, {"name": name, "symbols": ["A"]}).status_code == 201
    assert api_client.get("/api/presets").json() == {"presets": [name]}
    assert api_client.get(path).json()["symbols"] == ["A"]
    response = _put(api_client, name, {"symbols": ["B", "C"]})
    assert response.json() == {"status": "updated", "name": name}
    assert api_client.get(path).json()["symbols"] == ["B", "C"]
    response = api_client.delete(path)
    assert response.json() == {"status": "deleted", "name": name}
    assert not SymbolPreset.objects.exists()


def test_preset_name_with_raw_slash_in_path_is_found(api_client):
    SymbolPreset.objects.create(name="energy/oil", symbols=["XOM"])
    response = api_client.get("/api/presets/energy/oil")
    assert response.status_code == 200
    assert response.json() == {
        "name": "energy/oil",
        "symbols": ["XOM"],
        "owner": None,  # made by a script: nobody's
        "can_change": False,
        "can_delete": False,
    }


def test_preset_create_duplicate_name_answers_409_and_keeps_original(api_client):
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"])
    response = _post(api_client, {"name": " tech ", "symbols": ["MSFT"]})
    assert response.status_code == 409
    assert response.json()["error"] == rules.PRESET_EXISTS.format(name="tech")
    assert list(response.json()["fields"]) == ["name"]
    assert SymbolPreset.objects.get(name="tech").symbols == ["AAPL"]


def test_preset_names_are_case_sensitive(api_client):
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"])
    assert _post(api_client, {"name": "Tech", "symbols": ["MSFT"]}).status_code == 201
    assert api_client.get("/api/presets/TECH").status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"symbols": ["A"]}, "name", None),
        ({"name": "", "symbols": ["A"]}, "name", rules.NAME_BLANK),
        ({"name": "   ", "symbols": ["A"]}, "name", rules.NAME_BLANK),
        ({"name": 5, "symbols": ["A"]}, "name", None),
        ({"name": None, "symbols": ["A"]}, "name", None),
        ({"name": "x" * 201, "symbols": ["A"]}, "name", rules.NAME_TOO_LONG),
        ({"name": "a\x00b", "symbols": ["A"]}, "name", None),
        ({"name": "p"}, "symbols", None),
        ({"name": "p", "symbols": None}, "symbols", None),
        ({"name": "p", "symbols": "AAPL"}, "symbols", None),
        ({"name": "p", "symbols": {"AAPL": 1}}, "symbols", None),
        ({"name": "p", "symbols": []}, "symbols", rules.SYMBOLS_EMPTY),
        ({"name": "p", "symbols": ["AAPL", 5]}, "symbols", None),
        ({"name": "p", "symbols": ["AAPL", None]}, "symbols", None),
        ({"name": "p", "symbols": ["AAPL", ["MSFT"]]}, "symbols", None),
        ({"name": "p", "symbols": ["AAPL", ""]}, "symbols", rules.SYMBOL_BLANK.format(index=2)),
        ({"name": "p", "symbols": [" \t"]}, "symbols", rules.SYMBOL_BLANK.format(index=1)),
        (
            {"name": "p", "symbols": ["AAPL", "MSFT", " AAPL "]},
            "symbols",
            rules.SYMBOL_DUPLICATE.format(symbol="AAPL"),
        ),
        ({"name": "p", "symbols": ["x" * 101]}, "symbols", rules.SYMBOL_TOO_LONG.format(index=1)),
        ({"name": "p", "symbols": ["A\x00"]}, "symbols", None),
        ({"name": "p", "symbols": ["S"] * 10_001}, "symbols", None),
    ],
)
def test_preset_create_invalid_body_answers_400_naming_field(api_client, body, field, message):
    response = _post(api_client, body)
    assert response.status_code == 400
    data = response.json()
    assert field in data["fields"]
    if message is not None:
        assert data["fields"][field] == message
    assert not SymbolPreset.objects.exists()


def test_preset_create_too_many_symbols_says_the_limit(api_client):
    symbols = [f"S{i}" for i in range(rules.PRESET_MAX_SYMBOLS + 1)]
    response = _post(api_client, {"name": "p", "symbols": symbols})
    assert response.status_code == 400
    assert response.json()["fields"] == {"symbols": "Symbols must name at most 10000 symbols."}


def test_preset_create_accepts_the_symbol_limit_exactly(api_client):
    symbols = [f"S{i}" for i in range(rules.PRESET_MAX_SYMBOLS)]
    assert _post(api_client, {"name": "p", "symbols": symbols}).status_code == 201
    assert len(SymbolPreset.objects.get(name="p").symbols) == 10_000


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ('{"name": "p", "symbols": ["A"', "application/json"),
        ("not json", "application/json"),
        ('["p", ["A"]]', "application/json"),
        ("null", "application/json"),
        ("\xff\xfe", "application/json"),
    ],
)
def test_preset_create_malformed_body_answers_400(api_client, content, content_type):
    response = api_client.generic("POST", "/api/presets", content, content_type)
    assert response.status_code == 400
    assert response.json()["error"]
    assert not SymbolPreset.objects.exists()


def test_preset_create_unsupported_media_type_answers_415(api_client):
    response = api_client.generic("POST", "/api/presets", "name=p", "text/plain")
    assert response.status_code == 415
    assert "error" in response.json()


def test_preset_get_unknown_answers_404(api_client):
    response = api_client.get("/api/presets/nothing")
    assert response.status_code == 404
    assert response.json() == {"error": "Preset not found"}


def test_preset_get_nul_in_name_answers_404(api_client):
    assert api_client.get("/api/presets/a%00b").status_code == 404


def test_preset_update_replaces_symbols(api_client, user):
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"], owner_id=user.pk)
    response = _put(api_client, "tech", {"name": "tech", "symbols": ["MSFT", " NVDA "]})
    assert response.status_code == 200
    assert response.json() == {"status": "updated", "name": "tech"}
    assert SymbolPreset.objects.get(name="tech").symbols == ["MSFT", "NVDA"]


def test_preset_update_body_name_with_spaces_still_matches(api_client, user):
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"], owner_id=user.pk)
    assert _put(api_client, "tech", {"name": " tech ", "symbols": ["X"]}).status_code == 200


def test_preset_update_other_name_in_body_answers_400_and_changes_nothing(api_client, user):
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"], owner_id=user.pk)
    response = _put(api_client, "tech", {"name": "banks", "symbols": ["JPM"]})
    assert response.status_code == 400
    assert response.json()["fields"] == {"name": rules.NAME_MISMATCH}
    assert list(SymbolPreset.objects.values_list("name", "symbols")) == [("tech", ["AAPL"])]


def test_preset_update_unknown_answers_404_and_creates_nothing(api_client):
    response = _put(api_client, "ghost", {"symbols": ["A"]})
    assert response.status_code == 404
    assert response.json() == {"error": "Preset not found"}
    assert not SymbolPreset.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "symbols"), ({"symbols": []}, "symbols"), ({"symbols": ["A", "A"]}, "symbols")],
)
def test_preset_update_invalid_body_answers_400_and_keeps_symbols(api_client, user, body, field):
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"], owner_id=user.pk)
    response = _put(api_client, "tech", body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert SymbolPreset.objects.get(name="tech").symbols == ["AAPL"]


def test_preset_delete_removes_only_that_preset(api_client, user):
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"], owner_id=user.pk)
    SymbolPreset.objects.create(name="banks", symbols=["JPM"])
    response = api_client.delete("/api/presets/tech")
    assert response.status_code == 200
    assert response.json() == {"status": "deleted", "name": "tech"}
    assert list(SymbolPreset.objects.values_list("name", flat=True)) == ["banks"]


def test_preset_delete_unknown_answers_404(api_client):
    response = api_client.delete("/api/presets/ghost")
    assert response.status_code == 404
    assert response.json() == {"error": "Preset not found"}


def test_presets_wrong_method_answers_405(api_client):
    assert api_client.delete("/api/presets").status_code == 405
    assert api_client.post("/api/presets/tech", {}, format="json").status_code == 405


def test_presets_browser_request_renders_browsable_api(api_client):
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"])
    response = api_client.get("/api/presets/tech", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"AAPL" in response.content
