"""Prometheus metrics that stay true with several workers.

Request counts and latencies use ``prometheus_client``. Under ``energy-agents serve`` every
worker writes them to its own file in a directory shared by the workers of that server
(``PROMETHEUS_MULTIPROC_DIR``, made fresh at start) and a scrape, answered by any worker,
sums the files of all workers, dead ones included (counters never go back). Without that
directory (tests, one process) the process' own registry is exported. Stored-message and
decision counts come from the database, so they hold for every worker and host.
"""

from __future__ import annotations

from collections.abc import Iterable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, multiprocess_dir: str | None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

        disable_created_metrics()
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "energy_agents_http_requests",
            "HTTP requests answered, by endpoint (route), method and status",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "energy_agents_http_request_duration_seconds",
            "Time from the request reaching the app to the answer, by endpoint (route)",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self, gauges: Iterable[tuple[str, str, float]]) -> bytes:
        """The exposition text: request metrics plus ``(name, help, value)`` gauges."""
        from prometheus_client import CollectorRegistry, generate_latest

        if self.multiprocess_dir:
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
            text = generate_latest(registry)
        else:
            text = generate_latest(self.registry)
        lines = [text.decode()]
        for name, help_text, value in gauges:
            lines.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{name} {value:g}\n")
        return "".join(lines).encode()
