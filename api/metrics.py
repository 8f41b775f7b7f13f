"""Prometheus metrics: request counts and latency by route template (`/figures/{figure_id}`, not the id).

Each app gets its own registry, so tests can build many apps in one process.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# latency buckets for an API whose answers take milliseconds to a few seconds
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "figmine_http_requests_total", "HTTP requests answered", ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "figmine_http_request_duration_seconds", "Time to answer an HTTP request", ("method", "route"),
            buckets=BUCKETS, registry=self.registry,
        )
        self.in_flight = Gauge("figmine_http_requests_in_flight", "Requests being answered", registry=self.registry)
        self.jobs_running = Gauge(
            "figmine_jobs_running", "Harvest and export jobs running in this process", ("kind",),
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
