"""Fuzzing ``manage.py ingest_databento`` with hostile metadata (issue 12 item 5).

The ingest is not reachable through the API, so the API fuzzer never sends it anything; here
hypothesis builds batch zips (real DBN bytes, Databento's layout) whose ``symbology.json`` and
``metadata.json`` carry the values that broke it before: any Unicode symbol (lone surrogates,
control characters, outer spaces, very long ones), instrument ids of any size or sign and as
Unicode-digit strings, and JSON nested far deeper than Python recurses. Every file must be
either stored or refused with exactly one line naming it, never a traceback, and a refused
file changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dbn_files import P, ns, symbology_json, write_batch_zip
from tests.secmaster.test_ingest_hostile import everything

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

BARS = [(300, ns("2024-01-04T14:30"), 370 * P, 371 * P, 369 * P, 370 * P, 300)]

any_character = st.characters(codec=None, categories=None)  # surrogates and controls too
symbols = st.one_of(
    st.text(any_character, max_size=12),
    st.sampled_from(["", " SP ", "A\x00B", "\ud800", "X" * 101, "MSFT"]),
    st.integers(min_value=0, max_value=20).map(lambda n: "Z" * (10**n % 5000 + 1)),
)
instrument_ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([300, 2**32 - 1, 2**32, 2**64, -1, "²", "³³", "9" * 5000, "0300"]),
    st.text(st.characters(categories=["Nd"]), min_size=1, max_size=5),
)
depths = st.integers(min_value=1, max_value=200_000)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def symbology_texts(draw) -> str:
    kind = draw(st.sampled_from(["entries", "deep"]))
    if kind == "deep":
        return '{"result": {"MSFT": ' + nested(draw(depths)) + "}}"
    entries = {
        draw(symbols): [{"d0": "2024-01-02", "d1": "2024-02-01", "s": draw(instrument_ids)}]
        for _ in range(draw(st.integers(min_value=1, max_value=3)))
    }
    # json.dumps escapes a lone surrogate as \\ud800, as a hostile file would carry it
    return json.dumps({**symbology_json({}), "result": entries})


@st.composite
def metadata_texts(draw) -> str:
    return '{"query": {"dataset": "XNAS.ITCH", "x": ' + nested(draw(depths)) + "}}"


def assert_stored_or_refused_in_one_line(path: Path) -> None:
    before = everything()
    try:
        call_command("ingest_databento", str(path), stdout=open("/dev/null", "w"))  # noqa: SIM115
    except CommandError as exc:
        message = str(exc)
        assert str(path) in message, message[:300]
        assert "\n" not in message and "Traceback" not in message
        assert len(message) < 1000
        assert everything() == before


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=symbology_texts())
def test_any_symbology_json_is_stored_or_refused_in_one_line(tmp_path, text):
    path = write_batch_zip(
        tmp_path / "fuzz.zip", files={33: BARS}, extra_members={"symbology.json": text}
    )
    assert_stored_or_refused_in_one_line(path)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=metadata_texts())
def test_any_nesting_of_metadata_json_is_stored_or_refused_in_one_line(tmp_path, text):
    path = write_batch_zip(
        tmp_path / "fuzz.zip", files={33: BARS}, extra_members={"metadata.json": text}
    )
    assert_stored_or_refused_in_one_line(path)
