"""The operator's domain: what one pass over a LeakPolicy's pods does, in stages.

    scanner.py     PolicyScanner.scan: the pass as a list of named, timed steps
    collect/       which pods, their profiles fetched and parsed, the series and checkpoints
    verdict/       per-pod evaluations -> per-workload findings (spread, rollout, OOM ETA)
    report/        the status a pass earns and the Events its transitions warrant
    shards/        --sharding: which replica scans what, one coordinator's merged status
    remediation/   spec.remediation: gather, then a pure chain of rails, then act
    ports.py       the one seam to the cluster (`Cluster`) and the types that cross it

Each stage imports only the stages below it (import-linter holds the order in `make lint`).
Pure functions of data and a `now`; `leakpatrol.runtime` implements the port with
`leakpatrol.kube` and wires kopf.
"""
