"""The operator's domain: which pods to scan, what their evaluations mean per workload, what the
status and Events say. Pure functions of data and a `now`; the cluster is reached only through the
`Cluster` port (`ports.py`); `leakpatrol.runtime` implements it with `leakpatrol.kube` and wires kopf."""
