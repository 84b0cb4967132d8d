"""Security master admin: changelists render, market data is view-only, preset form rules."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import connections, models
from django.test import RequestFactory

from secmaster import admin_views
from secmaster.admin import SymbolPresetForm
from secmaster.models import (
    CoverageRow,
    Instrument,
    Publisher,
    SymbolCoverage,
    SymbologyMapping,
    SymbologyRow,
    SymbolPreset,
)
from secmaster.services import presets as rules

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

REGISTERED = [Publisher, Instrument, SymbologyRow, CoverageRow, SymbolPreset]
READ_ONLY = [Publisher, Instrument, SymbologyRow, CoverageRow]


@pytest.fixture
def admin_client(client, django_user_model):
    boss = django_user_model.objects.create_superuser(username="boss", password="pw-123456")
    client.force_login(boss)
    return client


@pytest.fixture
def market_data() -> None:
    xnas = Publisher.objects.create(
        publisher_id=10, name="databento", dataset="XNAS.ITCH", venue="XNAS"
    )
    glbx = Publisher.objects.create(
        publisher_id=20, name="databento", dataset="GLBX.MDP3", venue="GLBX"
    )
    Instrument.objects.create(
        publisher=xnas, source_instrument_id=12345, symbol="BRK:B", symbol_type="raw_symbol"
    )
    Instrument.objects.create(
        publisher=glbx, source_instrument_id=777, symbol="ESZ4", symbol_type="raw_symbol"
    )
    SymbologyMapping.objects.create(
        publisher=xnas,
        symbol="BRK:B",
        symbol_type="raw_symbol",
        source_instrument_id=12345,
        start_date=dt.date(2024, 1, 2),
        end_date=dt.date(2024, 2, 1),
    )
    SymbologyMapping.objects.create(
        publisher=glbx,
        symbol="ESZ4",
        symbol_type="raw_symbol",
        source_instrument_id=777,
        start_date=dt.date(2024, 3, 1),
        end_date=dt.date(2024, 12, 20),
    )
    SymbolCoverage.objects.create(
        publisher=xnas, symbol="BRK:B", rtype=33, min_ts=1_704_153_600_000_000_000, max_ts=2
    )
    SymbolCoverage.objects.create(publisher=glbx, symbol="ESZ4", rtype=35, min_ts=0, max_ts=1)
    SymbolPreset.objects.create(name="tech/big", symbols=["AAPL", "MSFT"])


def _changelist(model: type[models.Model]) -> str:
    return f"/admin/secmaster/{model._meta.model_name}/"


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m.__name__)
def test_admin_changelist_renders_for_superuser(admin_client, market_data, model):
    response = admin_client.get(_changelist(model))
    assert response.status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m.__name__)
def test_admin_changelist_empty_renders(admin_client, model):
    assert admin_client.get(_changelist(model)).status_code == 200


@pytest.mark.parametrize(
    ("model", "query", "present", "absent"),
    [
        (Publisher, "?q=GLBX", "GLBX.MDP3", "XNAS.ITCH"),
        (Instrument, "?q=ESZ", "777", "12345"),
        (Instrument, "?publisher__publisher_id__exact=10", "12345", "777"),
        (SymbologyRow, "?q=BRK", "12345", "777"),
        (SymbologyRow, "?publisher__publisher_id__exact=20", "777", "12345"),
        (CoverageRow, "?q=ESZ4", "ESZ4", "BRK:B"),
        (CoverageRow, "?rtype__exact=33", "BRK:B", "ESZ4"),
        (CoverageRow, "?publisher__publisher_id__exact=20", "ESZ4", "BRK:B"),
        (SymbolPreset, "?q=tech", "tech/big", "nothing-else"),
    ],
)
def test_admin_changelist_search_and_filters_select_rows(
    admin_client, market_data, model, query, present, absent
):
    response = admin_client.get(_changelist(model) + query)
    assert response.status_code == 200
    content = response.content.decode()
    assert present in content
    assert absent not in content


def test_admin_coverage_shows_first_bar_as_utc_time(admin_client, market_data):
    response = admin_client.get(_changelist(CoverageRow) + "?q=BRK")
    assert "2024-01-02 00:00:00 UTC" in response.content.decode()


def test_admin_view_rows_have_unambiguous_text_keys(market_data):
    # publisher:start_date:source_id:len(symbol):symbol:type — symbol "BRK:B" has 5 characters
    keys = list(SymbologyRow.objects.order_by("row_key").values_list("row_key", flat=True))
    assert keys == ["10:2024-01-02:12345:5:BRK:B:raw_symbol", "20:2024-03-01:777:4:ESZ4:raw_symbol"]
    keys = list(CoverageRow.objects.order_by("row_key").values_list("row_key", flat=True))
    assert keys == ["10:33:5:BRK:B:raw_symbol", "20:35:4:ESZ4:raw_symbol"]


def test_admin_view_rows_carry_the_table_values(market_data):
    row = SymbologyRow.objects.get(symbol="ESZ4")
    assert (row.publisher_id, row.source_instrument_id) == (20, 777)
    assert (row.start_date, row.end_date) == (dt.date(2024, 3, 1), dt.date(2024, 12, 20))
    coverage = CoverageRow.objects.get(symbol="BRK:B")
    assert (coverage.publisher_id, coverage.rtype) == (10, 33)
    assert (coverage.min_ts, coverage.max_ts) == (1_704_153_600_000_000_000, 2)


@pytest.mark.parametrize("model", [SymbologyRow, CoverageRow], ids=lambda m: m.__name__)
def test_admin_view_row_detail_renders_read_only(admin_client, market_data, model):
    row = model.objects.get(symbol="BRK:B")
    url = f"{_changelist(model)}{quote(row.pk)}/change/"
    response = admin_client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert "BRK:B" in content
    assert 'name="_save"' not in content


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda m: m.__name__)
def test_admin_market_data_has_no_add_change_delete(model):
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda m: m.__name__)
def test_admin_market_data_add_page_is_forbidden(admin_client, model):
    assert admin_client.get(f"{_changelist(model)}add/").status_code == 403


def test_admin_coverage_change_post_is_forbidden_and_changes_nothing(admin_client, market_data):
    row = CoverageRow.objects.get(symbol="ESZ4")
    url = f"{_changelist(CoverageRow)}{quote(row.pk)}/change/"
    response = admin_client.post(url, {"symbol": "HACK", "min_ts": 5})
    assert response.status_code == 403
    assert SymbolCoverage.objects.filter(symbol="ESZ4", min_ts=0).exists()


def test_admin_views_exist_only_in_secmaster_database():
    secmaster = connections["secmaster"].introspection.table_names(include_views=True)
    default = connections["default"].introspection.table_names(include_views=True)
    for view in admin_views.VIEW_NAMES:
        assert view in secmaster
        assert view not in default


# --- Preset form ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AAPL, MSFT\nNVDA\n", ["AAPL", "MSFT", "NVDA"]),
        ("AAPL\r\n\r\n msft ,", ["AAPL", "msft"]),
        ('["AAPL", " BRK.B "]', ["AAPL", "BRK.B"]),
        ("ES.FUT", ["ES.FUT"]),
    ],
)
def test_preset_form_parses_symbol_text(text, expected):
    form = SymbolPresetForm(data={"name": "p", "symbols": text})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["symbols"] == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "This field is required."),
        (" , \n ,", rules.SYMBOLS_EMPTY),
        ("[]", rules.SYMBOLS_EMPTY),
        ("AAPL, MSFT, AAPL", rules.SYMBOL_DUPLICATE.format(symbol="AAPL")),
        ('["AAPL", ""]', rules.SYMBOL_BLANK.format(index=2)),
        ('["AAPL", 5]', rules.SYMBOL_NOT_STRING.format(index=2)),
        ('["AAPL", ["MSFT"]]', rules.SYMBOL_NOT_STRING.format(index=2)),
        ("[AAPL, MSFT]", None),
        (f"OK, {'x' * 101}", rules.SYMBOL_TOO_LONG.format(index=2)),
    ],
)
def test_preset_form_rejects_bad_symbol_lists(text, message):
    form = SymbolPresetForm(data={"name": "p", "symbols": text})
    assert not form.is_valid()
    assert "symbols" in form.errors
    if message is not None:
        assert form.errors["symbols"] == [message]


def test_preset_form_rejects_json_that_is_not_a_list():
    form = SymbolPresetForm(data={"name": "p", "symbols": '["A"] trailing'})
    assert not form.is_valid()
    assert form.errors["symbols"][0].startswith("Starts with '[' but is not a JSON list")


def test_preset_form_rejects_blank_and_taken_names():
    SymbolPreset.objects.create(name="tech", symbols=["A"])
    assert "name" in SymbolPresetForm(data={"name": "   ", "symbols": "A"}).errors
    assert "name" in SymbolPresetForm(data={"name": " tech ", "symbols": "A"}).errors


def test_preset_form_shows_symbols_one_per_line():
    preset = SymbolPreset.objects.create(name="tech", symbols=["AAPL", "MSFT"])
    form = SymbolPresetForm(instance=preset)
    assert form.initial["symbols"] == "AAPL\nMSFT"


def test_admin_preset_add_creates_cleaned_preset(admin_client):
    response = admin_client.post(
        "/admin/secmaster/symbolpreset/add/", {"name": " my tech ", "symbols": "aapl, MSFT\n"}
    )
    assert response.status_code == 302
    assert list(SymbolPreset.objects.values_list("name", "symbols")) == [
        ("my tech", ["aapl", "MSFT"])
    ]


def test_admin_preset_add_bad_symbols_shows_error_and_saves_nothing(admin_client):
    response = admin_client.post(
        "/admin/secmaster/symbolpreset/add/", {"name": "p", "symbols": "A, A"}
    )
    assert response.status_code == 200
    assert "appears more than once" in response.content.decode()
    assert not SymbolPreset.objects.exists()


def test_admin_preset_change_updates_symbols_and_keeps_name(admin_client):
    SymbolPreset.objects.create(name="tech/big", symbols=["AAPL"])
    url = f"/admin/secmaster/symbolpreset/{quote('tech/big')}/change/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"name": "renamed", "symbols": "NVDA\nAMD"})
    assert response.status_code == 302
    assert list(SymbolPreset.objects.values_list("name", "symbols")) == [
        ("tech/big", ["NVDA", "AMD"])
    ]


# --- Later migrations that alter the viewed tables ---------------------------------------


@pytest.mark.django_db(databases=["default", "secmaster"], transaction=True)
def test_admin_views_drop_and_create_sql_let_symbology_be_rebuilt():
    """The recipe in secmaster.admin_views: drop the views, alter the table, create them."""
    connection = connections["secmaster"]
    old = SymbologyMapping._meta.get_field("symbol_type")
    new = models.CharField(max_length=40)
    new.set_attributes_from_name("symbol_type")
    new.model = SymbologyMapping
    with connection.cursor() as cursor:
        cursor.execute(admin_views.DROP_SYMBOLOGY_VIEW)
    try:
        with connection.schema_editor() as editor:
            editor.alter_field(SymbologyMapping, old, new)
        with connection.schema_editor() as editor:
            editor.alter_field(SymbologyMapping, new, old)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(admin_views.CREATE_SYMBOLOGY_VIEW)
    assert SymbologyRow.objects.count() == 0
    assert "admin_symbology" in connection.introspection.table_names(include_views=True)


def test_admin_index_lists_security_master_models(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    content = response.content.decode()
    for model in REGISTERED:
        assert f"/admin/secmaster/{model._meta.model_name}/" in content
