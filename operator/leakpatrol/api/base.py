"""The base model and the field types every LeakPolicy model shares.

Each type is the parsed value a controller wants (seconds, bytes, a float) with a serializer that
writes back the string form the CRD stores, so `model_dump()` of a model is a valid object body.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from leakpatrol.api.units import (
    format_decimal,
    format_duration,
    format_quantity,
    parse_decimal,
    parse_duration,
    parse_quantity,
)

# IANA_SVC_NAME, what a containerPort name must be (validation.IsValidPortName in apimachinery).
PORT_NAME_PATTERN = r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$"
# metav1.Condition's reason: CamelCase, so that tools can match on it.
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields rejected.

    The API server prunes unknown fields silently; rejecting them here turns a typo into an
    `InvalidSpec` message instead of a setting that quietly does nothing (and the sandbox API does
    not prune at all).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )


def _duration_in(value: Any) -> float:
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: write it as a string like 90s or 1h30m")
    return parse_duration(value)


def _decimal_in(value: Any) -> float:
    return parse_decimal(value)


def _quantity_in(value: Any) -> int:
    return parse_quantity(value)


def _port_in(value: Any) -> int | str:
    if isinstance(value, bool):
        raise ValueError("invalid port: expected a container port number or name")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise ValueError(f"invalid port {value}: a port number is between 1 and 65535")
        return value
    if isinstance(value, str) and re.fullmatch(PORT_NAME_PATTERN, value):
        return value
    raise ValueError(
        f"invalid port {value!r}: a container port name is 1-15 lowercase letters, digits and '-',"
        " with at least one letter (or give the number)"
    )


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone (Kubernetes times are UTC, e.g. 2026-01-02T03:04:05Z)")
    return value.astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    # metav1.Time precision: whole seconds, always UTC with a Z.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Duration = Annotated[float, BeforeValidator(_duration_in), PlainSerializer(format_duration, return_type=str)]
"""Seconds in Python; `1h30m` on the wire."""

DecimalString = Annotated[
    float, BeforeValidator(_decimal_in), PlainSerializer(format_decimal, return_type=str)
]
"""A float in Python; a quoted decimal string on the wire (floats do not round-trip in Kubernetes)."""

ByteQuantity = Annotated[
    int, BeforeValidator(_quantity_in), PlainSerializer(format_quantity, return_type=str)
]
"""Bytes in Python; a Kubernetes quantity (`16Mi`) or plain integer on the wire."""

PortRef = Annotated[int | str, BeforeValidator(_port_in)]
"""A container port by number or by name, resolved against the pod's spec by the controller."""

Timestamp = Annotated[datetime, AfterValidator(_utc), PlainSerializer(_rfc3339, return_type=str)]
"""An aware UTC datetime in Python; RFC 3339 with whole seconds on the wire."""
