import json
import re

import pytest

from accounts.services import token_create
from realtime.publisher import publisher
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(owner):
    raw, _ = token_create(email=owner.email, password=factories.PASSWORD)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_every_response_has_server_timing_and_a_request_id(client, auth, project):
    response = client.get(f"/api/v1/projects/{project.pk}", **auth)
    timing = response["Server-Timing"]
    assert timing.startswith("db;dur=") and 'queries"' in timing and ", app;dur=" in timing
    assert response["X-Request-ID"]
    assert client.get("/api/v1/projects/not-a-uuid", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"


def sample(text: str, series: str) -> float:
    """The value of one exact series (name and labels as /metrics prints them); 0 when absent."""
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.rsplit(" ", 1)[0] == series]
    assert len(values) <= 1, (series, values)
    return values[0] if values else 0.0


def queries_of(response) -> int:
    """The statement count the middleware recorded for one response (its ``Server-Timing``)."""
    return int(re.search(r'desc="(\d+) queries"', response["Server-Timing"]).group(1))


TASKS_ROUTE = "/api/v1/projects/<project_id>/tasks"
PROJECT_ROUTE = "/api/v1/projects/<project_id>"


def test_metrics_count_exactly_what_the_requests_did(client, auth, project, new_events,
                                                     django_capture_on_commit_callbacks):
    """Between two reads of /metrics: a project read, a task creation, the same read again.

    Each request is observed after its response is built, so the first
    ``/metrics`` request is in the second text and the second one is not.
    The registry is the process's, shared with every other test: only the
    differences count, and the publisher is drained before each read.
    """
    assert publisher.flush(), "events of earlier tests still unpublished"
    first = client.get("/metrics")
    before = first.content.decode()
    requests = [client.get(f"/api/v1/projects/{project.pk}", **auth)]
    with new_events(project) as logged, django_capture_on_commit_callbacks(execute=True):
        requests.append(client.post(f"/api/v1/projects/{project.pk}/tasks", json.dumps({"title": "m"}),
                                    content_type="application/json", **auth))
    created_events = len(logged)
    requests.append(client.get(f"/api/v1/projects/{project.pk}", **auth))
    assert [r.status_code for r in requests] == [200, 201, 200]
    assert created_events == 2  # task_created and project_counts_changed
    assert publisher.flush(), "the task's events were not published"
    after = client.get("/metrics").content.decode()

    def moved(series: str) -> float:
        return sample(after, series) - sample(before, series)

    assert moved("task_creation_duration_seconds_count") == 1
    assert moved("project_creation_duration_seconds_count") == 0
    # Every request is counted once: the first /metrics and the three API calls.
    assert moved("database_queries_per_request_count") == 4
    assert moved("database_queries_per_request_sum") == queries_of(first) + sum(map(queries_of, requests))
    assert moved('http_request_duration_seconds_count{method="GET",route="/metrics",status="200"}') == 1
    assert moved(f'http_request_duration_seconds_count{{method="GET",route="{PROJECT_ROUTE}",status="200"}}') == 2
    assert moved(f'http_request_duration_seconds_count{{method="POST",route="{TASKS_ROUTE}",status="201"}}') == 1
    # The token: looked up in the database on the first request, from the cache on the next two.
    assert moved('cache_misses_total{cache="token"}') == 1
    assert moved('cache_hits_total{cache="token"}') == 2
    # The counts: nothing cached for the first read; the task's commit stores them; the second read hits.
    assert moved('cache_misses_total{cache="counts"}') == 1
    assert moved('cache_hits_total{cache="counts"}') == 1
    assert moved("events_published_total") == created_events
    assert moved("events_publish_failures_total") == 0
    for name in ("http_request_duration_seconds", "project_creation_duration_seconds", "cache_hits_total",
                 "cache_misses_total", "cache_hit_ratio", "websocket_connections",
                 "websocket_broadcast_latency_seconds", "events_published_total"):
        assert f"# TYPE {name}" in after or f"# HELP {name}" in after, name


def test_metrics_are_not_public_in_production(client, settings):
    settings.DEBUG = False
    assert client.get("/metrics", REMOTE_ADDR="93.184.216.34").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    settings.TASKHUB_METRICS_TOKEN = "s3cret"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_request_log_is_one_json_line_without_secrets(client, auth, project, caplog):
    with caplog.at_level("INFO", logger="taskhub.request"):
        client.get(f"/api/v1/projects/{project.pk}", HTTP_X_REQUEST_ID="req-42", **auth)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "taskhub.request"]
    assert lines and lines[-1]["request_id"] == "req-42" and lines[-1]["status"] == 200
    assert auth["HTTP_AUTHORIZATION"].split()[1] not in caplog.text


def test_unknown_api_paths_and_methods_answer_json(client, auth):
    missing = client.get("/api/v1/no-such-thing", **auth)
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found.", "code": "not_found"}
    wrong = client.patch("/api/v1/auth/me", **auth)
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
