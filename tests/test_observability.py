import json

import pytest

from accounts.services import token_create
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(owner):
    raw, _ = token_create(email=owner.email, password=factories.PASSWORD)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def test_every_response_has_server_timing_and_a_request_id(client, auth, project):
    response = client.get(f"/api/v1/projects/{project.pk}", **auth)
    timing = response["Server-Timing"]
    assert timing.startswith("db;dur=") and 'queries"' in timing and ", app;dur=" in timing
    assert response["X-Request-ID"]
    assert client.get("/api/v1/projects/not-a-uuid", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"


def test_metrics_count_task_creation_and_queries(client, auth, project):
    before = client.get("/metrics").content.decode()
    response = client.post(f"/api/v1/projects/{project.pk}/tasks", json.dumps({"title": "m"}),
                           content_type="application/json", **auth)
    assert response.status_code == 201
    after = client.get("/metrics").content.decode()
    assert metric(after, "task_creation_duration_seconds_count") == metric(before,
                                                                            "task_creation_duration_seconds_count") + 1
    assert metric(after, "database_queries_per_request_count") > metric(before, "database_queries_per_request_count")
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
