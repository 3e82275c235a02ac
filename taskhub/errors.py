"""Domain errors shared by every app.

A leaf module: it imports no app, so services, selectors and consumers can all
raise these, and ``taskhub.api`` maps them to HTTP answers.
"""


class ApplicationError(Exception):
    """Base class: a domain rule was broken; ``code`` is machine-readable."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra or {}


class NotFound(ApplicationError):
    """The thing does not exist, or the caller may not see it (never reveal which)."""

    status_code = 404
    code = "not_found"


class PermissionDenied(ApplicationError):
    """The caller may see the thing but not change it."""

    status_code = 403
    code = "permission_denied"


class Conflict(ApplicationError):
    """The write clashes with the current state (duplicate, invariant, archived)."""

    status_code = 409
    code = "conflict"


class PreconditionFailed(ApplicationError):
    """``If-Match`` named a version that is no longer current."""

    status_code = 412
    code = "precondition_failed"

    def __init__(self, detail: str, *, current: object = None):
        super().__init__(detail)
        self.current = current


class ValidationError(ApplicationError):
    """Input that passed the schema but breaks a domain rule (e.g. another project's id)."""

    status_code = 422
    code = "invalid"


class Gone(ApplicationError):
    """The requested range of the event log has been trimmed: the client must resync."""

    status_code = 410
    code = "resync"
