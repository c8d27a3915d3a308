"""Stage 1, collect: which pods a policy scans, their profiles fetched and parsed under shared
capacity, and the series kept across restarts in checkpoints. Knows the port, nothing above."""
