"""Exceptions raised by the client.

Every error the server answers is a :class:`SentiserveError` carrying the HTTP
``status``, the server's machine-readable ``type`` (``error.type`` in the JSON body)
and its ``message``. The subclass is chosen by ``type`` first, then by status, so
``except ModelNotFound`` and ``except NotFound`` both work for an unknown model.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type

__all__ = [
    "SentiserveError",
    "InvalidRequest",
    "Unauthorized",
    "NotFound",
    "ModelNotFound",
    "PayloadTooLarge",
    "InputTooLong",
    "Overloaded",
    "Unavailable",
    "ServerError",
    "ConnectionFailed",
    "Timeout",
]


class SentiserveError(Exception):
    """An error answered by the server (or a failure to reach it).

    Attributes:
        status: HTTP status, or ``None`` when no response arrived.
        type: the server's ``error.type`` (e.g. ``"model_not_found"``).
        message: the server's human-readable ``error.message``.
        retry_after: seconds from the ``Retry-After`` header, when present.
        request_id: the server's ``x-request-id`` header, when present.
        body: the decoded JSON body (or the raw text) of the response.
    """

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        type: str = "error",
        retry_after: Optional[float] = None,
        request_id: Optional[str] = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.retry_after = retry_after
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"{self.type} ({where}): {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, type={self.type!r}, message={self.message!r})"


class InvalidRequest(SentiserveError):
    """400/415/422: malformed JSON, wrong content type, or a missing/extra/invalid field."""


class Unauthorized(SentiserveError):
    """401: the API key (or admin key) is missing or wrong."""


class NotFound(SentiserveError):
    """404: no such route or resource."""


class ModelNotFound(NotFound):
    """404 ``model_not_found``: the model name is not configured on the server."""


class PayloadTooLarge(SentiserveError):
    """413: body or number of texts over the server's limits."""


class InputTooLong(PayloadTooLarge):
    """413 ``input_too_long``: an input is over the model's token limit and ``truncate=False``."""


class Overloaded(SentiserveError):
    """429 ``overloaded``: the model's queue is full (retried automatically)."""


class Unavailable(SentiserveError):
    """503 ``model_unavailable``: the model failed to load or was unloaded (retried automatically)."""


class ServerError(SentiserveError):
    """5xx other than 503: inference failed or an internal error."""


class ConnectionFailed(SentiserveError):
    """The server could not be reached (connection refused, DNS, reset...)."""


class Timeout(SentiserveError):
    """No complete response within the client's timeout."""


_BY_TYPE: Dict[str, Type[SentiserveError]] = {
    "invalid_json": InvalidRequest,
    "invalid_query": InvalidRequest,
    "invalid_body": InvalidRequest,
    "invalid_request": InvalidRequest,
    "unsupported_media_type": InvalidRequest,
    "unauthorized": Unauthorized,
    "model_not_found": ModelNotFound,
    "not_found": NotFound,
    "payload_too_large": PayloadTooLarge,
    "batch_too_large": PayloadTooLarge,
    "input_too_long": InputTooLong,
    "overloaded": Overloaded,
    "model_unavailable": Unavailable,
    "inference_error": ServerError,
    "internal": ServerError,
}

_BY_STATUS: Dict[int, Type[SentiserveError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    404: NotFound,
    413: PayloadTooLarge,
    415: InvalidRequest,
    422: InvalidRequest,
    429: Overloaded,
    503: Unavailable,
}


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    retry_after: Optional[float],
) -> SentiserveError:
    """Builds the typed exception for an error response."""
    err_type: Optional[str] = None
    message: Optional[str] = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        detail = body["error"]
        err_type = detail.get("type") if isinstance(detail.get("type"), str) else None
        message = detail.get("message") if isinstance(detail.get("message"), str) else None
    if message is None:
        message = body if isinstance(body, str) and body else f"HTTP {status}"
    cls = _BY_TYPE.get(err_type or "") or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else SentiserveError
    return cls(
        message,
        status=status,
        type=err_type or f"http_{status}",
        retry_after=retry_after,
        request_id=headers.get("x-request-id"),
        body=body,
    )
