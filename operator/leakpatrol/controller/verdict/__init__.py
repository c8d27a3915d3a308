"""Stage 2, verdict: per-pod evaluations folded into per-workload findings, how widespread, since
which rollout, how long until OOM, and which rules a policy judges with. Pure."""
