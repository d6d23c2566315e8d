"""Python client for sentiserve, a text-classification inference server.

    >>> from sentiserve_client import Client
    >>> with Client("http://127.0.0.1:8080") as client:
    ...     client.analyze("I love this movie!").results[0].label
    'POSITIVE'

Besides text classification it has ``zero_shot`` (an NLI model, as transformers'
zero-shot pipeline) and ``rerank`` (a cross-encoder, Hugging Face TEI's ``/rerank``).
:class:`AsyncClient` has the same methods as coroutines.
"""

from ._client import AsyncClient, Client
from ._core import DEFAULT, RETRY_STATUSES, __version__
from ._errors import (
    ConnectionFailed,
    IncompatibleModel,
    InputTooLong,
    InvalidRequest,
    ModelNotFound,
    NotAReranker,
    NotFound,
    NotNli,
    Overloaded,
    PayloadTooLarge,
    SentiserveError,
    ServerError,
    Timeout,
    Unauthorized,
    Unavailable,
)
from ._task_types import Rank, ZeroShotResult
from ._types import (
    AnalyzeResponse,
    CacheStats,
    ClearResponse,
    Health,
    LabelScore,
    ModelInfo,
    ModelsResponse,
    Result,
    TierClear,
    TierStats,
)

#: Alias of :class:`Unavailable` named after the server's ``model_unavailable`` type.
ModelUnavailable = Unavailable

__all__ = [
    "Client",
    "AsyncClient",
    "DEFAULT",
    "RETRY_STATUSES",
    "__version__",
    "AnalyzeResponse",
    "Result",
    "LabelScore",
    "ModelsResponse",
    "ModelInfo",
    "CacheStats",
    "TierStats",
    "ClearResponse",
    "TierClear",
    "Health",
    "ZeroShotResult",
    "Rank",
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
    "ModelUnavailable",
    "ServerError",
    "ConnectionFailed",
    "Timeout",
]
