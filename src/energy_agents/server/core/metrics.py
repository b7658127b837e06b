"""Prometheus metrics that stay true with several workers.

Request counts and latencies use ``prometheus_client``. Under ``energy-agents serve`` every
worker writes them to its own file in a directory shared by the workers of that server
(``PROMETHEUS_MULTIPROC_DIR``, made fresh at start) and a scrape, answered by any worker,
sums the files of all workers, dead ones included (counters never go back). Without that
directory (tests, one process) the process' own registry is exported. Without
``prometheus_client`` at all, :class:`LocalMetrics` exports this process' counts labelled with
its pid (never passed off as the whole server's). Stored-message and
decision counts come from the database, so they hold for every worker and host.
"""

from __future__ import annotations

from collections.abc import Iterable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def Metrics(multiprocess_dir: str | None):  # noqa: N802 - picks the implementation
    """Request metrics: ``prometheus_client`` when installed, else :class:`LocalMetrics`."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return LocalMetrics()
    return PrometheusMetrics(multiprocess_dir)


class LocalMetrics:
    """Fallback without ``prometheus_client``: this process' counts only, labelled with its
    ``pid`` so that a scrape of one worker never passes for the whole server."""

    def __init__(self) -> None:
        import os
        import threading

        self.pid = str(os.getpid())
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (endpoint, method, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            counts = self.buckets.setdefault(endpoint, [0] * (len(LATENCY_BUCKETS) + 1))
            for i, le in enumerate(LATENCY_BUCKETS):
                if seconds <= le:
                    counts[i] += 1
            counts[-1] += 1
            self.sums[endpoint] = self.sums.get(endpoint, 0.0) + seconds

    def observe_group(self, size: int) -> None:
        """Commit group sizes are exported by :class:`PrometheusMetrics` only."""

    def render(self, gauges: Iterable[tuple[str, str, float]]) -> bytes:
        pid = self.pid
        out = [
            "# HELP energy_agents_http_requests_total HTTP requests answered by this worker (pid)",
            "# TYPE energy_agents_http_requests_total counter",
        ]
        with self._lock:
            for (ep, m, st), n in sorted(self.requests.items()):
                out.append(
                    f'energy_agents_http_requests_total{{endpoint="{ep}",method="{m}",status="{st}",pid="{pid}"}} {n}'
                )
            out += [
                "# HELP energy_agents_http_request_duration_seconds Request latency in this worker",
                "# TYPE energy_agents_http_request_duration_seconds histogram",
            ]
            for ep, counts in sorted(self.buckets.items()):
                lab = f'endpoint="{ep}",pid="{pid}"'
                for le, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), counts, strict=True):
                    out.append(
                        f'energy_agents_http_request_duration_seconds_bucket{{{lab},le="{le}"}} {n}'
                    )
                out.append(
                    f"energy_agents_http_request_duration_seconds_count{{{lab}}} {counts[-1]}"
                )
                out.append(
                    f"energy_agents_http_request_duration_seconds_sum{{{lab}}} {self.sums[ep]}"
                )
        for name, help_text, value in gauges:
            out.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{name} {value:g}")
        return ("\n".join(out) + "\n").encode()


class PrometheusMetrics:
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
        self.groups = Histogram(
            "energy_agents_commit_group_size",
            "Write requests per committed transaction (group commit; one fsync each on SQLite)",
            buckets=GROUP_BUCKETS,
            registry=self.registry,
        )

        self._children: dict[tuple[str, str, int], tuple] = {}

    def observe_group(self, size: int) -> None:
        self.groups.observe(size)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        key = (endpoint, method, status)
        children = self._children.get(key)
        if children is None:  # labels() costs a lock and a lookup: once per label set
            children = (
                self.requests.labels(endpoint, method, str(status)),
                self.latency.labels(endpoint),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

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
