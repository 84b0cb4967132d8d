"""Serializer fields shared by the API's input serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

ASCII_DIGITS_ONLY = "A valid integer is required (ASCII digits 0-9)."


class AsciiIntegerField(serializers.IntegerField):
    """An IntegerField that takes only ASCII digits from a string.

    ``int()`` accepts every Unicode decimal digit (``int("١٢")`` is 12): a value a person
    would not read as a number is refused rather than quietly turned into one.
    """

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not data.isascii():
            raise serializers.ValidationError(ASCII_DIGITS_ONLY)
        return super().to_internal_value(data)
