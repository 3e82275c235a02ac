"""With Redis as the cache, the operations the cache API lacks run on Redis itself.

Ticket consumption must be one GETDEL (atomic across server processes) and
the counts cache a compare-and-set script; a check on the type of Django's
cache proxy once made both fall back, silently, to their local-memory paths.
"""

import uuid

import pytest
from django.conf import settings
from django.core.cache import cache

from projects import cache as counts_cache
from projects.models import COUNT_FIELDS
from realtime import tickets
from taskhub.redis import redis_client

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (CI's PostgreSQL + Redis pass)")


def test_the_redis_client_is_found_behind_the_cache_proxy():
    assert redis_client() is not None


def test_a_ticket_is_consumed_with_one_getdel(monkeypatch):
    client = redis_client()
    calls = []
    real = type(client).getdel
    monkeypatch.setattr(type(client), "getdel", lambda self, name: calls.append(name) or real(self, name))
    user_id = uuid.uuid4()
    ticket = tickets.ticket_issue(user_id=user_id)
    assert tickets.ticket_consume(ticket) == str(user_id)
    assert tickets.ticket_consume(ticket) is None
    assert len(calls) == 2


def test_the_counts_cache_keeps_the_newest_version_on_redis():
    project_id = uuid.uuid4()
    counts = dict.fromkeys(COUNT_FIELDS, 1)
    counts_cache.counts_set_if_newer(project_id, 5, counts)
    counts_cache.counts_set_if_newer(project_id, 4, dict.fromkeys(COUNT_FIELDS, 9))  # older: ignored
    raw = redis_client().get(cache.make_and_validate_key(counts_cache.counts_cache_key(project_id)))
    assert raw.decode().startswith("5:")
    assert counts_cache.counts_get(project_id) == (5, counts)
