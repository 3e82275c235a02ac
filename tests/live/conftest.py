"""Fixtures for the tests that drive real server processes."""

from __future__ import annotations

import pytest

from tests.live.servers import Server


@pytest.fixture
def servers():
    """Start servers with ``servers(Server(...))``; all are stopped when the test ends."""
    started: list[Server] = []

    def start(server: Server) -> Server:
        started.append(server)
        return server.start()

    yield start
    errors = []
    for server in started:
        try:
            server.stop()
        except Exception as exc:  # stop the others anyway
            errors.append(exc)
    if errors:
        raise errors[0]
