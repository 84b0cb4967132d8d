"""Input serializers check the shape of a request; output serializers describe answers.

Content rules for presets (blank names, repeated symbols, ...) live in
``secmaster.services.presets`` so that the admin form applies the very same ones. The output
serializers document the answers in the OpenAPI schema; views return the selectors' plain
dicts, which already have these shapes.
"""

from __future__ import annotations

from rest_framework import serializers

from ostsite.api_fields import AsciiIntegerField
from secmaster.models import Rtype

RTYPE_CHOICES_MESSAGE = "rtype must be one of " + ", ".join(str(v) for v in Rtype.values) + "."
INT32_MAX = 2**31 - 1


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers instead of turning them into strings."""

    default_error_messages = {"invalid": "Not a valid string."}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def _rtype_field() -> serializers.IntegerField:
    return AsciiIntegerField(
        required=False,
        help_text="Bar type: 32 ohlcv-1s, 33 ohlcv-1m, 34 ohlcv-1h, 35 ohlcv-1d, 36 ohlcv-eod.",
    )


class _RtypeValidation:
    def validate_rtype(self, value: int) -> int:
        if value not in Rtype.values:
            raise serializers.ValidationError(RTYPE_CHOICES_MESSAGE)
        return value


class RtypeQuerySerializer(_RtypeValidation, serializers.Serializer):
    rtype = _rtype_field()


class CoverageQuerySerializer(_RtypeValidation, serializers.Serializer):
    publisher_id = AsciiIntegerField(required=False, min_value=1, max_value=INT32_MAX)
    rtype = _rtype_field()


def _symbols_field() -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(trim_whitespace=False, allow_blank=True),
        help_text="Symbols, each stripped of surrounding whitespace; case is kept; no repeats.",
    )


class PresetCreateSerializer(serializers.Serializer):
    name = StrictCharField(trim_whitespace=False, allow_blank=True)
    symbols = _symbols_field()


class PresetUpdateSerializer(serializers.Serializer):
    name = StrictCharField(
        trim_whitespace=False,
        allow_blank=True,
        required=False,
        help_text="Optional; if given it must be the preset's name (no renaming).",
    )
    symbols = _symbols_field()


# --- Answers (OpenAPI documentation) ---------------------------------------------------


class PublisherListSerializer(serializers.Serializer):
    publishers = serializers.ListField(child=serializers.CharField())


class DatasetSerializer(serializers.Serializer):
    publisher_id = serializers.IntegerField()
    dataset = serializers.CharField()


class DatasetListSerializer(serializers.Serializer):
    datasets = DatasetSerializer(many=True)


class CoverageSerializer(serializers.Serializer):
    publisher_id = serializers.IntegerField()
    symbol = serializers.CharField()
    rtype = serializers.IntegerField()
    min_ts = serializers.IntegerField(help_text="First bar's ts_event, UTC nanoseconds.")
    max_ts = serializers.IntegerField(help_text="Last bar's ts_event, UTC nanoseconds.")


class CoverageListSerializer(serializers.Serializer):
    symbols = CoverageSerializer(many=True)


class PresetListSerializer(serializers.Serializer):
    presets = serializers.ListField(child=serializers.CharField())


class PresetSerializer(serializers.Serializer):
    name = serializers.CharField()
    symbols = serializers.ListField(child=serializers.CharField())
    owner = serializers.CharField(
        allow_null=True, help_text="Username of who made it; null for scripts, older presets"
    )
    can_change = serializers.BooleanField(
        help_text="You may update it: yours, or you hold secmaster.change_symbolpreset"
    )
    can_delete = serializers.BooleanField(
        help_text="You may delete it: yours, or you hold secmaster.delete_symbolpreset"
    )


class PresetStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["created", "updated", "deleted"])
    name = serializers.CharField()
