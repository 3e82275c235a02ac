"""The single NinjaAPI: mounts the app routers and maps domain errors to HTTP (API.md, "Errors")."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from enum import Enum

import orjson
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import BaseRenderer
from pydantic import BaseModel

from accounts.auth import API_AUTH
from taskhub import faults
from taskhub.errors import ApplicationError, PreconditionFailed
from taskhub.errors import ValidationError as DomainValidationError
from taskhub.openapi import add_framework_responses, add_links, drop_unused_components

logger = logging.getLogger("taskhub.api")


class BadBody(ValueError):
    """A JSON body the API refuses before validation; its message is the ``400`` detail."""


def _holds_nul(data) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class StrictJsonParser(Parser):
    """ninja's JSON parser, plus two refusals that would otherwise go wrong later.

    - A body that is not a JSON object: ninja reads fields off it as attributes,
      so the body ``"fix"`` created a task titled ``"Fix"`` (``str.title``).
    - A NUL character in a string (body or query): PostgreSQL cannot store or
      compare one, and the database error surfaced as a ``500``.
    """

    def parse_body(self, request):
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise BadBody("The request body must be a JSON object.")
        if _holds_nul(data):
            raise BadBody("The request body contains a NUL character, which is not allowed.")
        return data

    def parse_querydict(self, data, list_fields, request):
        if any("\x00" in value for _key, values in data.lists() for value in values):
            raise HttpError(400, "The query string contains a NUL character, which is not allowed.")
        return super().parse_querydict(data, list_fields, request)


class ORJSONRenderer(BaseRenderer):
    """JSON through orjson: UUIDs and datetimes natively, several times faster than the stdlib encoder.

    Datetimes come out as RFC 3339 in UTC with a ``Z`` (the same text as the
    event payloads, which pydantic renders).
    """

    media_type = "application/json"

    def render(self, request, data, *, response_status):
        return orjson.dumps(data, default=_fallback, option=orjson.OPT_UTC_Z)


def _fallback(value):
    if isinstance(value, Decimal | Enum):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"Cannot serialize {type(value).__name__}")


class TaskHubAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document also lists the framework's error answers and the links (taskhub.openapi).

    Operation ids are the view functions' names (``task_move``, ``workspace_create``):
    what a generated client names its methods. A test checks they are unique.
    """

    def get_openapi_operation_id(self, operation) -> str:
        return operation.view_func.__name__

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        add_framework_responses(schema)
        add_links(schema)
        drop_unused_components(schema)
        return schema


TAGS = [
    {"name": "auth", "description": "Accounts and bearer tokens: register, log in (``POST /auth/token``), log out."},
    {"name": "ops", "description": "Health of the server and of what it depends on."},
    {"name": "workspaces", "description": "Workspaces and their members (roles ``owner``, ``editor``, ``viewer``)."},
    {"name": "projects", "description": "Projects of a workspace, with counts, status, overrides and members."},
    {"name": "statuses", "description": "A project's board columns, each in one status group."},
    {"name": "board", "description": "The board snapshot: columns with their first cards, members and "
                                     "``as_of_seq`` to subscribe from."},
    {"name": "tasks", "description": "Tasks: create, read, edit, move between and within columns, archive."},
    {"name": "comments", "description": "Comments on a task; ``<@USER_ID>`` in a body mentions someone."},
    {"name": "checklists", "description": "A task's checklists and their items: the ``checklist {total, done}`` "
                                          "of its card."},
    {"name": "invitations", "description": "Invitations to a workspace, by email, and their answers."},
    {"name": "notifications", "description": "The caller's notifications: a per-user stream, also live over the "
                                             "WebSocket (``subscribe {notifications: true}``)."},
    {"name": "realtime", "description": "WebSocket tickets and the project's event log (replay after a reconnect)."},
]


api = TaskHubAPI(
    renderer=ORJSONRenderer(),
    title="TaskHub API",
    version="1",
    description="REST API of TaskHub, the real-time task board. Errors are "
    '`{"detail": "<sentence>", "code": "<machine code>"}`; lists are `{items, next_cursor}`.',
    auth=API_AUTH,
    urls_namespace="api-v1",
    docs_url="/docs",
    parser=StrictJsonParser(),
    # Paths in the document start at the site root (``/api/v1/...``), so the server is the site itself.
    servers=[{"url": "/", "description": "This server"}],
    openapi_extra={"tags": TAGS},
)

api.add_router("", "accounts.api.router")
api.add_router("", "projects.api.router")
api.add_router("", "tasks.api.router")
api.add_router("", "realtime.api.router")
api.add_router("", "notifications.api.router")

_HTTP_CODES = {400: "bad_request", 401: "not_authenticated", 403: "permission_denied", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 429: "rate_limited"}


def error_body(detail, code: str, **extra) -> dict:
    return {"detail": detail, "code": code, **extra}


@api.exception_handler(ApplicationError)
def application_error(request, exc: ApplicationError):
    if isinstance(exc, PreconditionFailed) and exc.current is not None:
        # The operation put the current resource's Out schema in ``current``.
        response = api.create_response(request, exc.current, status=412)
        return response
    if isinstance(exc, DomainValidationError):
        # API.md: every 422 has the same shape, whether pydantic or a domain rule refused the input;
        # the specific code (e.g. "invalid_password") goes in the item's ``type``.
        extra = dict(exc.extra)
        item = {"loc": list(extra.pop("loc", [])), "msg": exc.detail, "type": exc.code}
        return api.create_response(request, error_body([item], "invalid", **extra), status=422)
    return api.create_response(request, error_body(exc.detail, exc.code, **exc.extra), status=exc.status_code)


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    errors = [
        {"loc": list(err.get("loc", [])), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors
    ]
    return api.create_response(request, error_body(errors, "invalid"), status=422)


@api.exception_handler(AuthenticationError)
def authentication_error(request, exc):
    return api.create_response(request, error_body("Authentication required.", "not_authenticated"), status=401)


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    detail = str(exc)
    if isinstance(exc.__cause__, BadBody):
        detail = str(exc.__cause__)
    elif exc.status_code == 400 and detail.startswith("Cannot parse request body"):
        detail = "The request body is not valid JSON."
    response = api.create_response(
        request, error_body(detail, _HTTP_CODES.get(exc.status_code, "error")), status=exc.status_code
    )
    wait = getattr(exc, "wait", None)
    if wait:
        response["Retry-After"] = str(wait)
    return response


@api.exception_handler(Http404)
def not_found(request, exc):
    return api.create_response(request, error_body("Not found.", "not_found"), status=404)


@api.exception_handler(RequestDataTooBig)
def too_big(request, exc):
    return api.create_response(request, error_body("Request body is larger than 1 MiB.", "too_large"), status=413)


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def database_unavailable(request, exc):
    """PostgreSQL gone, or the connection killed under the request: 503 with Retry-After (taskhub/faults.py).

    Nothing was half-written: the transaction died with the connection. A safe
    read is then run once more on a fresh connection by DatabaseFaultMiddleware.
    """
    logger.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
    faults.after_fault()
    return faults.mark(api.create_response(request, error_body(faults.DETAIL, "unavailable"), status=503), exc)


@api.exception_handler(Exception)
def server_error(request, exc):
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return api.create_response(request, error_body("Internal server error.", "server_error"), status=500)
