"""The string forms a LeakPolicy uses instead of floats, and their parsing.

Kubernetes APIs avoid floats (they do not round-trip through every client and language), so the
spec carries durations (`90s`, `1h30m`), byte quantities (`16Mi`) and decimals (`"0.01"`) as
strings. These are the only converters; the CRD's patterns below are the same ones the schema uses,
and a test keeps the two in step.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# A subset of Go's time.ParseDuration syntax: the apiserver's CEL `duration()` parses these too,
# which is what lets the CRD compare two durations in an x-kubernetes-validations rule.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
# Jitter: a share of the interval (`10%`, at most 100) or an absolute duration.
JITTER_PATTERN = r"^(100|[1-9]?[0-9])%$|^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
# A non-negative Kubernetes quantity in bytes: no milli (a byte is not divisible), no exponents.
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
# A non-negative decimal written as a string, e.g. "0.01" or "3".
DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_QUANTITY_SUFFIX = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)")


def parse_duration(text: str) -> float:
    """`1h30m` -> 5400.0 seconds. Raises ValueError naming the accepted form."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(
            f"invalid duration {text!r}: use a number and a unit ms, s, m or h, e.g. 90s or 1h30m"
        )
    return sum(float(num) * _UNIT_SECONDS[unit] for num, unit in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest canonical form: 5400 -> `1h30m`, 0.25 -> `250ms`, 0 -> `0s`."""
    if seconds < 0:
        raise ValueError(f"negative duration: {seconds}")
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    parts.append(f"{millis}ms" if millis else "")
    return "".join(parts) or "0s"


def parse_quantity(value: str | int) -> int:
    """`16Mi` -> 16777216 bytes; a plain integer is taken as bytes. Fractions round up to a byte."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"invalid quantity {value!r}: use bytes or a string like 16Mi")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid quantity {value}: must not be negative")
        return value
    match = _QUANTITY.fullmatch(value)
    if not re.fullmatch(QUANTITY_PATTERN, value) or match is None:
        raise ValueError(
            f"invalid quantity {value!r}: use a number and an optional suffix Ki, Mi, Gi, k, M, G …"
        )
    number, suffix = match.groups()
    scaled = Decimal(number) * _QUANTITY_SUFFIX[suffix]
    return int(scaled.to_integral_value(rounding="ROUND_CEILING"))


def format_quantity(num_bytes: int) -> str:
    """The largest binary suffix that divides exactly: 16777216 -> `16Mi`, 1000 -> `1000`."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _QUANTITY_SUFFIX[suffix]
        if num_bytes and num_bytes % unit == 0:
            return f"{num_bytes // unit}{suffix}"
    return str(num_bytes)


def parse_decimal(text: str) -> float:
    """`"0.01"` -> 0.01. Strings only: a YAML float would already have lost the author's digits."""
    if not isinstance(text, str) or not re.fullmatch(DECIMAL_PATTERN, text):
        raise ValueError(f'invalid decimal {text!r}: write it as a quoted string like "0.01"')
    try:
        return float(Decimal(text))
    except InvalidOperation as exc:  # unreachable after the pattern, kept for clarity of intent
        raise ValueError(f"invalid decimal {text!r}") from exc


def format_decimal(value: float) -> str:
    """0.01 -> `0.01`, 3.0 -> `3`: the shortest string that parses back to the same float."""
    return format(Decimal(repr(value)).normalize(), "f")


def jitter_seconds(jitter: str, interval_seconds: float) -> float:
    """The jitter bound in seconds: a percentage of the interval, or a duration as written."""
    if jitter.endswith("%"):
        return interval_seconds * int(jitter[:-1]) / 100
    return parse_duration(jitter)


# --- numbers as a person reads them: Events, condition and status messages, the CLI ------------
# The one formatter of sizes and rates. Raw numbers stay in the status fields (bytes, counts).
_BINARY = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def format_bytes(num_bytes: float) -> str:
    """`62163926` -> `59.3 MiB`: the largest binary unit under the value, one decimal; `512 B`."""
    size = abs(num_bytes)
    for unit, scale in _BINARY:
        if size >= scale:
            return f"{num_bytes / scale:.1f} {unit}"
    return f"{num_bytes:.0f} B"


def amount_text(signal: str, value: float) -> str:
    """A signal's amount: heap in bytes (`37.7 MiB`), goroutines as a count (`1018`)."""
    return format_bytes(value) if signal == "heap" else f"{value:.0f}"


def rate_text(signal: str, per_hour: float) -> str:
    """A signal's growth per hour, signed: `+66.0 MiB/h`, `+540/h`, `-3/h`."""
    sign = "-" if per_hour < 0 else "+"
    return f"{sign}{amount_text(signal, abs(per_hour))}/h"
