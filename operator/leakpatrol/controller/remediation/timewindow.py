"""Allowed time windows (kured's `timewindow`): is `now` inside one, and when does the next open.

Pure. A window is local wall-clock time in its own zone, so a daylight-saving change moves it with
the clocks people read. A window whose end is before its start runs past midnight; its `days` name
the day it opens on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from leakpatrol.api import TimeWindow

_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _clock(text: str) -> time | None:
    """HH:MM; None for 24:00, the end of the day."""
    if text == "24:00":
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _span(w: TimeWindow, day: datetime) -> tuple[datetime, datetime]:
    """The window's opening and closing on the local `day` (a midnight in the window's zone)."""
    start, end = _clock(w.start) or time(0), _clock(w.end)
    opens = day.replace(hour=start.hour, minute=start.minute)
    closes = day + timedelta(days=1) if end is None else day.replace(hour=end.hour, minute=end.minute)
    if closes <= opens:
        closes += timedelta(days=1)  # runs past midnight
    return opens, closes


def _opens_on(w: TimeWindow, day: datetime) -> bool:
    return not w.days or _DAYS[day.weekday()] in w.days


def _spans_near(w: TimeWindow, now: datetime, days: range) -> list[tuple[datetime, datetime]]:
    zone = ZoneInfo(w.time_zone)
    local = now.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    spans = []
    for offset in days:
        day = midnight + timedelta(days=offset)
        day = datetime(day.year, day.month, day.day, tzinfo=zone)  # re-anchor across DST changes
        if _opens_on(w, day):
            spans.append(_span(w, day))
    return spans


def inside(windows: Sequence[TimeWindow], now: datetime) -> bool:
    """True when there are no windows (any time is allowed) or `now` is inside one of them."""
    if not windows:
        return True
    return any(o <= now < c for w in windows for o, c in _spans_near(w, now, range(-1, 1)))


def next_opening(windows: Sequence[TimeWindow], now: datetime) -> datetime | None:
    """The first opening after `now` within eight days; None if there is none (never opens)."""
    openings = [o for w in windows for o, _ in _spans_near(w, now, range(0, 8)) if o > now]
    return min(openings, default=None)
