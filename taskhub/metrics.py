"""Prometheus metrics, ``Server-Timing`` and structured request logs.

Several server processes: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder
shared by the processes (the production commands in the README do), and
``/metrics`` aggregates every process's samples (prometheus-client's
multiprocess mode). Without it, each process reports its own numbers.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time

from django.conf import settings
from django.db import connections
from django.http import HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prom_multiprocess

from taskhub.clientaddr import client_address

request_log = logging.getLogger("taskhub.request")

_FAST = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

TASK_CREATION = Histogram("task_creation_duration_seconds", "Time to serve POST /projects/{id}/tasks.",
                          buckets=_FAST)
PROJECT_CREATION = Histogram("project_creation_duration_seconds", "Time to serve POST /workspaces/{id}/projects.",
                             buckets=_FAST)
HTTP_DURATION = Histogram("http_request_duration_seconds", "HTTP request duration by route.",
                          ["method", "route", "status"], buckets=_FAST)
DB_QUERIES = Histogram("database_queries_per_request", "SQL statements per HTTP request.",
                       buckets=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50))
CACHE_HITS = Counter("cache_hits_total", "Cache lookups that hit.", ["cache"])
CACHE_MISSES = Counter("cache_misses_total", "Cache lookups that missed.", ["cache"])
WEBSOCKETS = Gauge("websocket_connections", "Open WebSocket connections.", multiprocess_mode="livesum")
BROADCAST_LATENCY = Histogram("websocket_broadcast_latency_seconds",
                              "From the commit of a write to its events' group_send.", buckets=_FAST)
EVENTS_PUBLISHED = Counter("events_published_total", "Events handed to the channel layer.")
PUBLISH_FAILURES = Counter("events_publish_failures_total", "Events whose group_send failed (still in the log).")


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(collected)
        return collected
    from prometheus_client import REGISTRY

    return REGISTRY


def _hit_ratio_lines(text: bytes) -> bytes:
    """Append ``cache_hit_ratio`` computed from the (aggregated) hit and miss counters."""
    hits: dict[str, float] = {}
    misses: dict[str, float] = {}
    for line in text.decode().splitlines():
        for name, into in (("cache_hits_total{", hits), ("cache_misses_total{", misses)):
            if line.startswith(name):
                labels, value = line[len(name):].rsplit("} ", 1)
                into[labels] = into.get(labels, 0.0) + float(value)
    out = ["# HELP cache_hit_ratio Share of cache lookups that hit, since start.", "# TYPE cache_hit_ratio gauge"]
    for labels in sorted(set(hits) | set(misses)):
        total = hits.get(labels, 0.0) + misses.get(labels, 0.0)
        out.append(f"cache_hit_ratio{{{labels}}} {hits.get(labels, 0.0) / total if total else 0.0}")
    return text + ("\n".join(out) + "\n").encode()


def _metrics_allowed(request) -> bool:
    token = getattr(settings, "TASKHUB_METRICS_TOKEN", "")
    if token:
        return request.headers.get("Authorization", "") == f"Bearer {token}"
    if settings.DEBUG:
        return True
    try:
        # The client's, not the proxy's: behind nginx every request comes from a loopback address.
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def metrics_view(request):
    """``GET /metrics``: Prometheus text. Outside DEBUG only for internal addresses or the metrics token."""
    if not _metrics_allowed(request):
        return HttpResponse("Not found.\n", status=404, content_type="text/plain")
    return HttpResponse(_hit_ratio_lines(generate_latest(registry())), content_type=CONTENT_TYPE_LATEST)


class _QueryCounter:
    """A ``connection.execute_wrapper`` that counts statements and their time."""

    __slots__ = ("count", "seconds")

    def __init__(self):
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + (match.route or "").lstrip("^")


class ObservabilityMiddleware:
    """Times every request; adds ``Server-Timing``; records metrics; logs one JSON line per request."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.log_requests = getattr(settings, "TASKHUB_REQUEST_LOG", True)

    def __call__(self, request):
        counter = _QueryCounter()
        started = time.perf_counter()
        with connections["default"].execute_wrapper(counter):
            response = self.get_response(request)
        elapsed = time.perf_counter() - started
        db_ms = counter.seconds * 1000
        response["Server-Timing"] = (
            f'db;dur={db_ms:.2f};desc="{counter.count} queries", app;dur={max(elapsed * 1000 - db_ms, 0):.2f}'
        )
        route = _route(request)
        HTTP_DURATION.labels(request.method, route, str(response.status_code)).observe(elapsed)
        DB_QUERIES.observe(counter.count)
        if request.method == "POST" and response.status_code == 201:
            if route.endswith("/projects/<project_id>/tasks"):
                TASK_CREATION.observe(elapsed)
            elif route.endswith("/workspaces/<workspace_id>/projects"):
                PROJECT_CREATION.observe(elapsed)
        if self.log_requests:
            # The API's authenticated caller (ninja sets ``request.auth``); ``request.user`` is not
            # read, since on a request that never looked at it that would load the session.
            user = getattr(request, "auth", None)
            request_log.info(json.dumps({
                "request_id": getattr(request, "request_id", ""),
                "client": client_address(request),
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
                "db_queries": counter.count,
                "db_ms": round(db_ms, 2),
                "user_id": str(user.pk) if user is not None and getattr(user, "is_authenticated", False) else None,
            }, separators=(",", ":")))
        return response
