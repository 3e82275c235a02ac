"""The OpenAPI document: what ninja cannot declare on its own.

- ``conditional``: the ``ETag`` response header and the ``If-Match`` /
  ``If-None-Match`` request headers of the operations that use them, given to
  the operation as ``openapi_extra``.
- The error answers the framework gives before (or instead of) a view, so
  that a client, or schemathesis, knows every status an operation can return.
- Links from every create to the operations that take the new id: they show
  how the resources connect, and let a stateful client follow them.
- Components no operation refers to (ninja lists the models of query
  parameters, which it spells out as parameters) are left out.
"""

from __future__ import annotations

import json
import re

_ETAG = {
    "description": "The resource's version, quoted (``\"7\"``): send it back in ``If-Match`` to write only "
                   "over that version.",
    "schema": {"type": "string"},
}
_IF_MATCH = {
    "in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
    "description": "Apply the write only if the resource is still at this version (its ``ETag``); otherwise "
                   "``412`` with the current resource. ``*`` or no header: the write is applied.",
}
_IF_NONE_MATCH = {
    "in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
    "description": "An ``ETag`` from an earlier answer: ``304`` with no body when nothing changed since.",
}


def conditional(*, etag: tuple[int, ...] = (), if_match: bool = False, if_none_match: bool = False) -> dict:
    """``openapi_extra`` for an operation that sends ``ETag`` on the ``etag`` statuses and honours the headers."""
    extra: dict = {}
    parameters = []
    if if_match:
        parameters.append(dict(_IF_MATCH))
    if if_none_match:
        parameters.append(dict(_IF_NONE_MATCH))
    if parameters:
        extra["parameters"] = parameters
    if etag:
        extra["responses"] = {status: {"headers": {"ETag": dict(_ETAG)}} for status in etag}
    return extra

_AUTH_REQUIRED = "Not authenticated: no valid token or session."
_MALFORMED = "Malformed request: a body that is not a JSON object, or a NUL character in the body or query."
_TOO_LARGE = "The body is larger than 1 MiB."
_INVALID = "Validation error: `detail` lists `{loc, msg, type}`."
_UNAVAILABLE = ("The database is unavailable (gone, or the connection was lost under the request): "
                "`code: \"unavailable\"`; nothing was written. Try again after `Retry-After` seconds.")
_RETRY_AFTER = {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
_URI_TOO_LONG = "Request line too long: the HTTP server (gunicorn, for one) refuses it, as HTML, before the API runs."


def add_framework_responses(schema: dict) -> None:
    """Add to every operation the error answers that apply to it but that no view declares."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    invalid = {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrorOut"}}}
    for methods in schema["paths"].values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            body = bool(operation.get("requestBody"))
            query = any(p.get("in") == "query" for p in operation.get("parameters", []))
            extra = {}
            if operation.get("security"):
                extra[401] = _AUTH_REQUIRED
            if body or query:
                extra[400] = _MALFORMED
            if body:
                extra[413] = _TOO_LARGE
            if body or operation.get("parameters"):
                extra[422] = _INVALID
            for status, description in extra.items():
                responses.setdefault(status, {"description": description,
                                              "content": invalid if status == 422 else error})
            # Every operation reads the database: with it gone, 503 (taskhub/faults.py).
            responses.setdefault(503, {"description": _UNAVAILABLE, "content": error,
                                       "headers": {"Retry-After": dict(_RETRY_AFTER)}})
            if query:
                responses.setdefault(414, {"description": _URI_TOO_LONG,
                                           "content": {"text/html": {"schema": {"type": "string"}}}})


# The path parameter a created resource's id fills, by the created resource's schema.
_CREATED_ID = {"WorkspaceOut": ("workspace_id", "/id"), "ProjectOut": ("project_id", "/id"),
               "TaskOut": ("task_id", "/id"), "CommentOut": ("comment_id", "/id"),
               "StatusOut": ("status_id", "/id"), "MemberOut": ("user_id", "/user/id")}


def add_links(schema: dict) -> None:
    """OpenAPI links from every create (``201``) to the operations that take the new id.

    They document how the API's resources connect, and they are what lets a
    stateful client (schemathesis) create something and then read, change and
    delete that very thing. Another path parameter of the target is taken from
    the create's own path or from a field of the created body; a target with a
    parameter neither provides gets no link.
    """
    components = schema["components"]["schemas"]
    operations = [(path, op) for path, methods in schema["paths"].items() for op in methods.values()]
    for source_path, source in operations:
        created = source.get("responses", {}).get(201)
        ref = (created or {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        if name not in _CREATED_ID:
            continue
        id_param, pointer = _CREATED_ID[name]
        fields = components[name].get("properties", {})
        links = {}
        for _target_path, target in operations:
            params = [p["name"] for p in target.get("parameters", []) if p.get("in") == "path"]
            if id_param not in params:
                continue
            values = {}
            for param in params:
                if param == id_param:
                    values[param] = f"$response.body#{pointer}"
                elif "{" + param + "}" in source_path:
                    values[param] = f"$request.path.{param}"
                elif param in fields:
                    values[param] = f"$response.body#/{param}"
            if len(values) == len(params):
                links[target["operationId"]] = {"operationId": target["operationId"], "parameters": values}
        if links:
            created["links"] = links


_REF = re.compile(r'"#/components/schemas/([^"]+)"')


def drop_unused_components(schema: dict) -> None:
    """Remove the component schemas that nothing in the document refers to, directly or through another."""
    components = schema.get("components", {}).get("schemas", {})
    outside = {key: value for key, value in schema.items() if key != "components"}
    used: set[str] = set()
    pending = set(_REF.findall(json.dumps(outside, default=str)))
    while pending:
        name = pending.pop()
        if name in used or name not in components:
            continue
        used.add(name)
        pending |= set(_REF.findall(json.dumps(components[name], default=str)))
    for name in [name for name in components if name not in used]:
        del components[name]
