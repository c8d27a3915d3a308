"""The running operator: kopf wiring, the cluster adapter, the metrics/health endpoint, start-up."""
