"""Request plumbing: request ids and the request-body limit."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.http import JsonResponse

from realtime.events import request_id_var

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdMiddleware:
    """Accept the client's ``X-Request-ID`` (or make one), expose it to the services, echo it back.

    Events logged while serving the request carry it, so a client can match its
    own optimistic update. Ids that are long or oddly shaped are replaced.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class BodySizeLimitMiddleware:
    """Answer ``413`` with a JSON ``detail`` when the declared body is over the limit (1 MiB).

    Bodies sent without a length (chunked) are caught when read: Django raises
    ``RequestDataTooBig`` and the API's error handler answers 413 as well.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def __call__(self, request):
        length = request.META.get("CONTENT_LENGTH")
        if length:
            try:
                too_big = int(length) > self.limit
            except ValueError:
                return JsonResponse({"detail": "Invalid Content-Length header.", "code": "bad_request"}, status=400)
            if too_big:
                return JsonResponse(
                    {"detail": f"Request body is larger than {self.limit} bytes.", "code": "too_large"}, status=413
                )
        return self.get_response(request)


class ApiJsonErrorsMiddleware:
    """Give ``/api/`` paths the documented ``{detail, code}`` body where Django or ninja answer in HTML.

    That is an unknown path (Django's 404 page) and a method the path does not
    have (ninja's plain 405).
    """

    _BODIES = {
        404: ("Not found.", "not_found"),
        405: ("Method not allowed.", "method_not_allowed"),
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code in self._BODIES
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            detail, code = self._BODIES[response.status_code]
            replacement = JsonResponse({"detail": detail, "code": code}, status=response.status_code)
            if response.has_header("Allow"):
                replacement["Allow"] = response["Allow"]
            return replacement
        return response
