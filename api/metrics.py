"""Prometheus metrics of the ingress (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("scimgate_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "scimgate_http_request_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
COMMANDS = Counter("scimgate_commands_total", "Write commands by kind and reply status", ["kind", "status"])
COMMAND_TIMEOUTS = Counter("scimgate_command_timeouts_total", "Write commands answered 503 (never applied)")
AUTH_REFUSED = Counter("scimgate_auth_refused_total", "Requests refused by authentication or authorisation", ["status"])
