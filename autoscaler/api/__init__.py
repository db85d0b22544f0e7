"""The HTTP API (JSON for the CLI, Prometheus text for /metrics)."""
