"""Reading JSON from users: depth bounded, strings valid Unicode (ostsite/json_input.py)."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from ostsite.json_input import (
    JSON_LONE_SURROGATE,
    JSON_TOO_DEEP,
    MAX_JSON_DEPTH,
    JsonInputError,
    StrictJSONParser,
    json_input_check,
    json_input_loads,
)


def lists(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_depth_up_to_the_limit_is_accepted_one_more_is_refused():
    assert MAX_JSON_DEPTH == 32
    assert json_input_loads(lists(32)) == json.loads(lists(32))
    assert json_input_loads('{"a": ' + lists(31) + "}")["a"] == json.loads(lists(31))
    for text in (lists(33), '{"a": ' + lists(32) + "}", '[1, {"b": ' + lists(31) + "}]"):
        with pytest.raises(JsonInputError) as refused:
            json_input_loads(text)
        assert refused.value.message == JSON_TOO_DEEP


@pytest.mark.parametrize("depth", [5_000, 100_000, 1_000_000])
def test_depth_beyond_the_interpreters_recursion_limit_is_refused(depth):
    with pytest.raises(JsonInputError, match="nested more than 32 levels"):
        json_input_loads(lists(depth))


@pytest.mark.parametrize(
    ("text", "path", "code"),
    [
        ('"\\ud800"', "$", "\\ud800"),
        ('["ok", "a\\udfffb"]', "$[1]", "\\udfff"),
        ('{"k": {"\\udbff": 1}}', "$.k.\\udbff", "\\udbff"),
        ('{"\\ud800x": {"y": "\\udc00"}}', "$.\\ud800x", "\\ud800"),
    ],
)
def test_lone_surrogates_in_keys_and_values_are_refused_naming_where(text, path, code):
    with pytest.raises(JsonInputError) as refused:
        json_input_loads(text)
    assert refused.value.message == JSON_LONE_SURROGATE.format(path=path, code=code)
    refused.value.message.encode("utf-8")  # the message itself can be sent


def test_valid_unicode_including_pairs_and_astral_characters_passes():
    text = '{"sym": ["\\ud83d\\ude00", "日本", "١", "\\u0000"], "n": [1e308, 12345678901234567890]}'
    assert json_input_loads(text) == json.loads(text)
    json_input_check({"nested": [{"a": [None, True, 1.5]}]})


def test_parser_turns_faults_into_parse_errors():
    parser = StrictJSONParser()
    for text, message in ((lists(50_000), JSON_TOO_DEEP), ('"\\ud800"', "lone surrogate")):
        with pytest.raises(ParseError, match=message):
            parser.parse(io.BytesIO(text.encode()), "application/json", {})
    assert parser.parse(io.BytesIO(b'{"a": [1]}'), "application/json", {}) == {"a": [1]}
