"""ETag and If-Match helpers shared by the routers."""

from __future__ import annotations

from django.http import HttpResponse


def etag(version: int | str) -> str:
    return f'"{version}"'


def set_etag(response: HttpResponse, version: int | str) -> None:
    response["ETag"] = etag(version)


def if_match_version(request) -> int | None:
    """The version named by ``If-Match``: None when absent or ``*``; -1 (never current) when unreadable."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    raw = raw.strip()
    if raw == "*":
        return None
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw.strip('"')
    try:
        return int(raw)
    except ValueError:
        return -1
