"""Prometheus metrics of the long-running commands (``ingest``, ``collect``, ``alerts --watch``)
and the small HTTP server that exposes them: ``/metrics`` in Prometheus's text format (by
prometheus_client), and for ingest ``/healthz`` and ``/readyz``.

Each command has a registry of its own, so its ``/metrics`` shows only its series (and the
``process_*`` ones). Counters move once per batch, request or evaluation, never per record.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    make_wsgi_app,
)

from dlrw.ingest.errors import ConfigError

__all__ = [
    "AlertsMetrics",
    "CollectMetrics",
    "IngestMetrics",
    "MetricsServer",
    "add_metrics_arguments",
    "serve_metrics",
]

# A batch takes well under a second when all is well; a warehouse outage holds one for minutes.
_BATCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Providers give up on a callback after 10-15 s.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# dbt's start-up alone takes a few seconds.
_BUILD_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)

Readiness = Callable[[], "str | None"]


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


class IngestMetrics:
    """What ``dlrw ingest`` exposes."""

    def __init__(self, event_types: Iterable[str]) -> None:
        self.registry = _registry()
        self.records = Counter(
            "dlrw_ingest_records",
            "Events written to the store and the warehouse, by event type.",
            ["event_type"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "dlrw_ingest_dead_letters",
            "Records sent to the dead-letter topic and raw_quarantine, by error class.",
            ["error_class"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "dlrw_ingest_consumer_lag_records",
            "End offset minus the group's committed offset, per partition this process holds.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.batch_duration = Histogram(
            "dlrw_ingest_batch_duration_seconds",
            "From taking a batch off the fetched records to committing its offsets.",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.last_commit = Gauge(
            "dlrw_ingest_last_commit_timestamp_seconds",
            "Unix time of the last offset commit the group coordinator accepted.",
            registry=self.registry,
        )
        self.newest_event = Gauge(
            "dlrw_ingest_newest_event_timestamp_seconds",
            "Newest event time written (submitted_at, received_at, occurred_at), by event type.",
            ["event_type"],
            registry=self.registry,
        )
        # Known label values start at 0, so "nothing new for an hour" has a series to look at.
        for event_type in event_types:
            self.records.labels(event_type)
        self._newest_s: dict[str, float] = {}

    def batch_written(
        self,
        events: Mapping[str, int],
        dead_letters: Mapping[str, int],
        newest_ms: Mapping[str, int],
        seconds: float,
    ) -> None:
        """Count one batch whose offsets were just committed."""
        for event_type, count in events.items():
            self.records.labels(event_type).inc(count)
        for error_class, count in dead_letters.items():
            self.dead_letters.labels(error_class).inc(count)
        for event_type, millis in newest_ms.items():
            # A replayed batch holds older events: the gauge never goes back.
            newest = max(self._newest_s.get(event_type, 0.0), millis / 1000)
            self._newest_s[event_type] = newest
            self.newest_event.labels(event_type).set(newest)
        self.batch_duration.observe(seconds)


class CollectMetrics:
    """What ``dlrw collect`` exposes."""

    def __init__(self) -> None:
        self.registry = _registry()
        self.requests = Counter(
            "dlrw_collect_requests",
            "HTTP requests answered, by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "dlrw_collect_request_duration_seconds",
            "From a request's arrival to its answer, by route.",
            ["route"],
            buckets=_REQUEST_BUCKETS,
            registry=self.registry,
        )


class AlertsMetrics:
    """What ``dlrw alerts --watch`` exposes."""

    def __init__(self, kinds: Iterable[str]) -> None:
        self.registry = _registry()
        self.build_duration = Histogram(
            "dlrw_alerts_build_duration_seconds",
            "Duration of the incremental dbt build of fct_messages before each evaluation.",
            buckets=_BUILD_BUCKETS,
            registry=self.registry,
        )
        self.firing = Gauge(
            "dlrw_alerts_firing",
            "Cells whose alert fires at the last evaluation, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.evaluations = Counter(
            "dlrw_alerts_evaluations",
            "Evaluations of the watch, by outcome (ok or error).",
            ["outcome"],
            registry=self.registry,
        )
        self.last_evaluation = Gauge(
            "dlrw_alerts_last_evaluation_timestamp_seconds",
            "Unix time of the last evaluation that succeeded.",
            registry=self.registry,
        )
        self._kinds = set(kinds)
        for outcome in ("ok", "error"):
            self.evaluations.labels(outcome)

    def evaluated(self, firing: Mapping[str, int]) -> None:
        """Count an evaluation that succeeded, with the cells firing per kind."""
        for kind in {*firing, *self._kinds}:
            self.firing.labels(kind).set(firing.get(kind, 0))
        self._kinds.update(firing)
        self.evaluations.labels("ok").inc()
        self.last_evaluation.set_to_current_time()


def add_metrics_arguments(parser: Any, serves: str = "/metrics") -> None:
    """``--metrics-port`` and ``--metrics-host`` for a command's parser."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help=f"serve {serves} on this port (default: not served)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address the metrics port listens on (default %(default)s; 0.0.0.0 for all)",
    )


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the command's own log."""


def _json(start_response: Callable[..., Any], status: str, body: dict[str, str]) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def _app(registry: CollectorRegistry, ready: Readiness | None) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)
        if ready is not None and path == "/healthz":
            return _json(start_response, "200 OK", {"status": "ok"})
        if ready is not None and path == "/readyz":
            problem = ready()
            if problem is not None:
                body = {"status": "unavailable", "error": problem}
                return _json(start_response, "503 Service Unavailable", body)
            return _json(start_response, "200 OK", {"status": "ready"})
        return _json(start_response, "404 Not Found", {"error": f"no such path: {path[:100]}"})

    return app


class MetricsServer:
    """The metrics port, served by a thread; ``close`` stops it."""

    def __init__(self, server: WSGIServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="dlrw-metrics", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextlib.contextmanager
def serve_metrics(
    registry: CollectorRegistry, host: str, port: int, ready: Readiness | None = None
) -> Iterator[MetricsServer]:
    """While the block runs, serve ``/metrics`` from ``registry`` on ``host:port`` (port 0: any
    free one); with ``ready`` (a function returning why the service is not ready, or None) also
    ``/healthz`` and ``/readyz``. ``ConfigError`` when the port cannot be had."""
    if not 0 <= port < 65536:
        raise ConfigError(f"--metrics-port must be 0-65535, got {port}")
    try:
        server = make_server(
            host, port, _app(registry, ready), server_class=_Server, handler_class=_QuietHandler
        )
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})"
        ) from None
    running = MetricsServer(server)
    try:
        yield running
    finally:
        running.close()
