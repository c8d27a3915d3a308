"""Parse Go pprof goroutine, goroutineleak and heap profiles (debug=0, 1, 2) into one model."""

from leakpatrol.profiles.errors import (
    DecompressionError,
    MalformedProfileError,
    NotAProfileError,
    ProfileError,
    ProfileMemoryError,
    ProfileTooLargeError,
    TruncatedProfileError,
)
from leakpatrol.profiles.loader import load, load_all
from leakpatrol.profiles.model import (
    Frame,
    HeapValues,
    Profile,
    ProfileFormat,
    ProfileKind,
    StackGroup,
    WaitKind,
)

__all__ = [
    "DecompressionError",
    "Frame",
    "HeapValues",
    "MalformedProfileError",
    "NotAProfileError",
    "Profile",
    "ProfileError",
    "ProfileFormat",
    "ProfileKind",
    "ProfileMemoryError",
    "ProfileTooLargeError",
    "StackGroup",
    "TruncatedProfileError",
    "WaitKind",
    "load",
    "load_all",
]
