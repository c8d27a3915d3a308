"""The operator's domain: which pods to scan, what their evaluations mean per workload, what the
status and Events say. Pure functions of data and a `now`; the I/O lives in leakpatrol.kube and the
kopf wiring in leakpatrol.handlers."""
