"""Durations, quantities and decimals: the string forms a LeakPolicy uses instead of floats."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakpatrol import render
from leakpatrol.api.units import (
    DURATION_PATTERN,
    amount_text,
    format_bytes,
    format_decimal,
    format_duration,
    format_quantity,
    jitter_seconds,
    parse_decimal,
    parse_duration,
    parse_quantity,
    rate_text,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("1m", 60), ("1h30m", 5400), ("1.5h", 5400), ("250ms", 0.25), ("0s", 0), ("2h0m5s", 7205)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "1d", "-1s", "1 m", "m", "1.s", "1h-5m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**9))
def test_duration_round_trips_in_milliseconds(millis: int) -> None:
    text = format_duration(millis / 1000)
    assert re.fullmatch(DURATION_PATTERN, text)
    assert round(parse_duration(text) * 1000) == millis


@pytest.mark.parametrize(
    ("value", "num_bytes"),
    [("16Mi", 16 * 2**20), ("1Gi", 2**30), ("1k", 1000), ("1.5Ki", 1536), ("0.5", 1), (4096, 4096), ("0", 0)],
)
def test_parse_quantity(value: str | int, num_bytes: int) -> None:
    assert parse_quantity(value) == num_bytes


@pytest.mark.parametrize("value", ["16MB", "1m", "-1", "1e3", -5, True, 1.5])
def test_parse_quantity_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        parse_quantity(value)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=2**62))
def test_quantity_round_trips(num_bytes: int) -> None:
    assert parse_quantity(format_quantity(num_bytes)) == num_bytes


def test_format_quantity_prefers_binary_suffixes() -> None:
    assert (format_quantity(16 * 2**20), format_quantity(1000), format_quantity(0)) == ("16Mi", "1000", "0")


@pytest.mark.parametrize(("text", "value"), [("0.01", 0.01), ("3", 3.0), ("2.5", 2.5)])
def test_decimal_round_trips(text: str, value: float) -> None:
    assert parse_decimal(text) == value
    assert format_decimal(value) == text


@pytest.mark.parametrize("value", [0.01, "1e-3", "-1", ".5", ""])
def test_decimal_must_be_a_plain_string(value: object) -> None:
    with pytest.raises(ValueError, match="invalid decimal"):
        parse_decimal(value)  # type: ignore[arg-type]


def test_jitter_is_a_share_or_a_duration() -> None:
    assert jitter_seconds("10%", 60) == 6
    assert jitter_seconds("5s", 60) == 5


@pytest.mark.parametrize(
    ("num_bytes", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1536, "1.5 KiB"),
        (62163926, "59.3 MiB"),
        (39530086, "37.7 MiB"),  # as the CLI always printed it
        (3 * 2**30 + 2**29, "3.5 GiB"),
        (-2 * 2**20, "-2.0 MiB"),
    ],
)
def test_bytes_read_in_binary_units(num_bytes: int, text: str) -> None:
    assert format_bytes(num_bytes) == text


def test_amounts_and_rates_carry_their_unit() -> None:
    assert amount_text("heap", 89161992) == "85.0 MiB"
    assert amount_text("goroutines", 1018.4) == "1018"
    assert rate_text("heap", 6267467247) == "+5.8 GiB/h"
    assert rate_text("heap", -69206016) == "-66.0 MiB/h"
    assert rate_text("goroutines", 540.2) == "+540/h"


def test_the_cli_and_the_operator_share_the_one_formatter() -> None:
    assert render._unit is amount_text
