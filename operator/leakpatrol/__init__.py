"""leakpatrol: find goroutine and memory leaks in Go services, name the leaking code and the fix."""

__version__ = "0.1.0"
