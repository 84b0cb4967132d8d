"""Security master admin: browse publishers, instruments, symbology, coverage; edit presets.

Market data is written by ingestion and the coverage rebuild, never by hand, so its models
are view-only here (deleting a publisher or instrument would also cascade into millions of
bars and leave the coverage stale). Symbology and coverage have composite primary keys, which
the admin cannot handle; they are shown through the unmanaged ``SymbologyRow`` and
``CoverageRow`` models over SQL views (see ``secmaster.admin_views``).
Presets are editable, with the same rules as the API (``secmaster.services.presets``).
"""

from __future__ import annotations

import json
import re

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from ostsite.errors import InvalidInput
from ostsite.formatting import utc_text
from ostsite.json_input import JsonInputError, json_input_loads
from ostsite.permissions import user_may
from secmaster.models import CoverageRow, Instrument, Publisher, SymbologyRow, SymbolPreset
from secmaster.services.presets import (
    preset_name_clean,
    preset_owner_fields,
    preset_symbols_clean,
)

SYMBOLS_BAD_JSON = "Starts with '[' but is not a JSON list: {error}"
SYMBOL_SEPARATORS = re.compile(r"[,\r\n]")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and shows rows; no add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Publisher)
class PublisherAdmin(ReadOnlyAdmin):
    list_display = ("publisher_id", "name", "dataset", "venue")
    search_fields = ("name", "dataset", "venue")


@admin.register(Instrument)
class InstrumentAdmin(ReadOnlyAdmin):
    list_display = ("instrument_id", "symbol", "symbol_type", "source_instrument_id", "publisher")
    list_filter = ("publisher",)
    list_select_related = ("publisher",)
    search_fields = ("symbol",)
    show_full_result_count = False


@admin.register(SymbologyRow)
class SymbologyRowAdmin(ReadOnlyAdmin):
    list_display = (
        "symbol",
        "symbol_type",
        "source_instrument_id",
        "start_date",
        "end_date",
        "publisher",
    )
    list_filter = ("publisher", "symbol_type")
    list_select_related = ("publisher",)
    search_fields = ("symbol",)
    show_full_result_count = False


@admin.register(CoverageRow)
class CoverageRowAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "symbol_type", "rtype", "publisher", "first_bar", "last_bar")
    list_filter = ("publisher", "rtype")
    list_select_related = ("publisher",)
    search_fields = ("symbol",)
    show_full_result_count = False
    # The detail page too shows times as UTC text, not nanoseconds.
    fields = ("symbol", "symbol_type", "rtype", "publisher", "first_bar", "last_bar")
    readonly_fields = fields

    @admin.display(description="first bar", ordering="min_ts")
    def first_bar(self, row: CoverageRow) -> str:
        return utc_text(row.min_ts)

    @admin.display(description="last bar", ordering="max_ts")
    def last_bar(self, row: CoverageRow) -> str:
        return utc_text(row.max_ts)


def symbols_from_text(text: str) -> list[object]:
    """Parse the admin's symbol box: a JSON list, or symbols separated by commas or newlines.

    In the separated form, empty pieces (a trailing comma, a blank line) are skipped; in the
    JSON form every item is kept, so the rules of ``preset_symbols_clean`` judge each one.
    """
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            parsed = json_input_loads(stripped)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(SYMBOLS_BAD_JSON.format(error=exc.msg)) from None
        except JsonInputError as exc:  # nested thousands deep, or not valid Unicode
            raise forms.ValidationError(SYMBOLS_BAD_JSON.format(error=exc.message)) from None
        return parsed
    return [piece for piece in SYMBOL_SEPARATORS.split(text) if piece.strip()]


class SymbolPresetForm(forms.ModelForm):
    """Preset form with a text box for symbols, validated by the presets service's rules."""

    symbols = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10, "cols": 40}),
        help_text="One symbol per line or separated by commas (or a JSON list). "
        "Surrounding spaces are removed; case is kept; no repeats.",
    )

    class Meta:
        model = SymbolPreset
        fields = ("name", "symbols")
        widgets = {"name": forms.TextInput(attrs={"size": 60})}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.symbols and not self.is_bound:
            self.initial["symbols"] = "\n".join(self.instance.symbols)

    def clean_name(self) -> str:
        try:
            return preset_name_clean(self.cleaned_data.get("name", ""))
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_symbols(self) -> list[str]:
        try:
            return preset_symbols_clean(symbols_from_text(self.cleaned_data["symbols"]))
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(SymbolPreset)
class SymbolPresetAdmin(admin.ModelAdmin):
    """Presets, with the ownership rule of ``ostsite.permissions``: a staff user changes and
    deletes their own presets, others' only with the model permission."""

    form = SymbolPresetForm
    list_display = ("name", "owner_username", "symbol_count", "symbols_preview")
    search_fields = ("name",)

    def get_readonly_fields(self, request: HttpRequest, obj: SymbolPreset | None = None) -> tuple:
        # The name is the primary key: changing it would copy the preset, not rename it.
        return ("name", "owner_username") if obj is not None else ()

    def has_change_permission(self, request: HttpRequest, obj: SymbolPreset | None = None) -> bool:
        if obj is None:
            return super().has_change_permission(request) or self.has_view_permission(request)
        return user_may(request.user, obj, "change")

    def has_delete_permission(self, request: HttpRequest, obj: SymbolPreset | None = None) -> bool:
        if obj is None:
            return super().has_delete_permission(request) or self.has_view_permission(request)
        return user_may(request.user, obj, "delete")

    def get_deleted_objects(self, objs: object, request: HttpRequest) -> tuple:
        """Django's summary, refused unless every preset is the user's to delete."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        refused = {
            f"preset {preset.name!r} (not yours)"
            for preset in objs
            if not user_may(request.user, preset, "delete")
        }
        return deleted, counts, perms_needed | refused, protected

    def save_model(
        self, request: HttpRequest, obj: SymbolPreset, form: object, change: bool
    ) -> None:
        if not change:
            for field, value in preset_owner_fields(request.user).items():
                setattr(obj, field, value)
        super().save_model(request, obj, form, change)

    @admin.display(description="symbols")
    def symbol_count(self, preset: SymbolPreset) -> int:
        return len(preset.symbols)

    @admin.display(description="first symbols")
    def symbols_preview(self, preset: SymbolPreset) -> str:
        head = ", ".join(preset.symbols[:8])
        return head + (", …" if len(preset.symbols) > 8 else "")
