"""Small helpers for object metadata: timestamps, names, uids, generation rules."""

from __future__ import annotations

import datetime
import random
import uuid
from typing import Any

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's alphabet for generateName suffixes


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(_NAME_CHARS) for _ in range(length))


def new_uid() -> str:
    return str(uuid.uuid4())


def spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything whose change bumps `generation`: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def human_duration(seconds: float) -> str:
    """Go's k8s.io/apimachinery/pkg/util/duration.HumanDuration, which Table cells use for ages."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def age(obj: dict[str, Any]) -> str:
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    return human_duration((datetime.datetime.now(tz=datetime.UTC) - created).total_seconds())
