"""Exceptions raised by the client.

Every error the server answers is a :class:`SentiserveError` carrying the HTTP
``status``, the server's machine-readable ``type`` and its ``message``. Two body shapes
are read: sentiserve's own, ``{"error": {"type": "model_not_found", "message": "..."}}``,
and Hugging Face TEI's, ``{"error": "...", "error_type": "Validation"}``, which the
TEI-compatible routes (``/rerank``, ``/predict``, ``/info``) may answer. The subclass is
chosen by sentiserve's ``type`` first, then by what the route's status means, then by
the status alone (then TEI's ``error_type``), so ``except ModelNotFound`` and
``except NotFound`` both work for an unknown model whichever shape the server used.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple, Type

__all__ = [
    "SentiserveError",
    "InvalidRequest",
    "Unauthorized",
    "NotFound",
    "ModelNotFound",
    "PayloadTooLarge",
    "InputTooLong",
    "IncompatibleModel",
    "NotAReranker",
    "NotNli",
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
        type: the server's ``error.type`` (e.g. ``"model_not_found"``); for a body in
            TEI's shape, its ``error_type`` (``"Validation"``, ``"Overloaded"``,
            ``"Unhealthy"``, ``"Backend"``, ``"Tokenizer"`` or ``"Empty"``).
        message: the server's human-readable message (``error.message``, or TEI's
            ``error`` string).
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


class IncompatibleModel(SentiserveError):
    """The model cannot do what the route asks (see :class:`NotAReranker`, :class:`NotNli`)."""


class NotAReranker(IncompatibleModel):
    """``not_a_reranker``: ``rerank`` on a model with more than one label (not a cross-encoder).

    The status is 424 with TEI's ``error_type`` ``"Backend"`` on servers that answer
    TEI's error shape on ``/rerank``, 409 on older ones.
    """


class NotNli(IncompatibleModel):
    """409 ``not_nli``: ``zero_shot`` on a model with no ``entail...`` label (not an NLI model)."""


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
    "empty_batch": InvalidRequest,
    "tokenizer_error": InvalidRequest,
    "unsupported_media_type": InvalidRequest,
    "unauthorized": Unauthorized,
    "model_not_found": ModelNotFound,
    "not_found": NotFound,
    "payload_too_large": PayloadTooLarge,
    "batch_too_large": PayloadTooLarge,
    "input_too_long": InputTooLong,
    "not_a_reranker": NotAReranker,
    "not_nli": NotNli,
    "overloaded": Overloaded,
    "model_unavailable": Unavailable,
    "inference_error": ServerError,
    "internal": ServerError,
}

_BY_STATUS: Dict[int, Type[SentiserveError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    404: NotFound,
    409: IncompatibleModel,
    413: PayloadTooLarge,
    415: InvalidRequest,
    422: InvalidRequest,
    429: Overloaded,
    503: Unavailable,
}


#: TEI's ``error_type`` values, for statuses that :data:`_BY_STATUS` does not name
#: (TEI answers 424 for a backend error, for instance).
_BY_TEI_TYPE: Dict[str, Type[SentiserveError]] = {
    "Unhealthy": Unavailable,
    "Backend": ServerError,
    "Overloaded": Overloaded,
    "Validation": InvalidRequest,
    "Tokenizer": InvalidRequest,
    "Empty": InvalidRequest,
}


def _str_or_none(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def parse_error_body(body: Any) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """``(type, message, tei_error_type)`` from an error body in either shape.

    sentiserve's ``{"error": {"type", "message"}}`` gives ``(type, message, None)``;
    TEI's ``{"error": "message", "error_type": "Validation"}`` gives
    ``(None, message, "Validation")``; anything else ``(None, None, None)``.
    """
    if not isinstance(body, dict):
        return None, None, None
    detail = body.get("error")
    if isinstance(detail, dict):
        return _str_or_none(detail.get("type")), _str_or_none(detail.get("message")), None
    if isinstance(detail, str):
        return None, detail, _str_or_none(body.get("error_type"))
    return None, None, None


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    retry_after: Optional[float],
    route_errors: Optional[Mapping[int, Type[SentiserveError]]] = None,
) -> SentiserveError:
    """Builds the typed exception for an error response.

    ``route_errors`` maps statuses to what they mean on the route that answered (a
    409 from ``/rerank`` is :class:`NotAReranker`); it decides the class when the
    body names no sentiserve ``type``, as TEI's shape does not.
    """
    err_type, message, tei_type = parse_error_body(body)
    if message is None:
        message = body if isinstance(body, str) and body else f"HTTP {status}"
    cls = (
        _BY_TYPE.get(err_type or "")
        or (route_errors or {}).get(status)
        or _BY_STATUS.get(status)
        or _BY_TEI_TYPE.get(tei_type or "")
    )
    if cls is None:
        cls = ServerError if status >= 500 else SentiserveError
    return cls(
        message,
        status=status,
        type=err_type or tei_type or f"http_{status}",
        retry_after=retry_after,
        request_id=headers.get("x-request-id"),
        body=body,
    )
