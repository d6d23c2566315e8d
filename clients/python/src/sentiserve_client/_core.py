"""What the sync and async clients share: request building, retry delays, decoding."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union
from urllib.parse import quote

import httpx

from ._errors import ConnectionFailed, SentiserveError, Timeout, error_from_response
from ._types import AnalyzeResponse, Health

__version__ = "0.1.0"

#: Statuses that are retried (with backoff, honouring ``Retry-After``).
RETRY_STATUSES = frozenset({429, 503})

#: One input: a text, a ``{"text", "text_pair"}`` mapping, or (in a batch) a
#: ``(text, text_pair)`` tuple.
TextInput = Union[str, Mapping[str, Any], Tuple[str, str]]
Inputs = Union[str, Mapping[str, Any], Sequence[TextInput]]
#: ``"softmax"``, ``"sigmoid"`` or ``"none"`` (transformers' ``function_to_apply``).
ScoreFunction = str
#: ``None``/``True``: use the cache; ``False`` or ``"no-store"``: recompute and store
#: nothing; ``"no-cache"``: recompute and refresh the cached entry.
CacheMode = Union[None, bool, str]

PipelineOutput = Union[List[Dict[str, Any]], List[List[Dict[str, Any]]]]


class _Default:
    """Marks an argument left out (``top_k`` of :meth:`predict_pipeline`, where ``None`` means all labels)."""

    _instance: Optional["_Default"] = None

    def __new__(cls) -> "_Default":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DEFAULT"

    def __bool__(self) -> bool:
        return False


DEFAULT: Any = _Default()


@dataclass
class _Request:
    method: str
    path: str
    params: Optional[Dict[str, str]] = None
    json: Any = None
    headers: Dict[str, str] = field(default_factory=dict)
    admin: bool = False
    retry: bool = True
    #: What a status means on this route when the error body names no sentiserve
    #: ``type`` (TEI's error shape): e.g. 409 from ``/rerank`` is ``NotAReranker``.
    errors: Optional[Dict[int, Type[SentiserveError]]] = None


def _one_input(item: Any, pair: Optional[str]) -> Union[str, Dict[str, str]]:
    if isinstance(item, str):
        return item if pair is None else {"text": item, "text_pair": pair}
    if isinstance(item, Mapping):
        if "text" not in item:
            raise TypeError("a mapping input needs a 'text' key (and optionally 'text_pair')")
        out = {"text": str(item["text"])}
        p = item.get("text_pair", pair)
        if p is not None:
            out["text_pair"] = str(p)
        return out
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
        if pair is not None:
            raise TypeError("give text_pair either inside the input or as the text_pair argument, not both")
        return {"text": item[0], "text_pair": item[1]}
    raise TypeError(f"an input must be a str, a (text, text_pair) tuple or a {{'text', 'text_pair'}} mapping, not {type(item).__name__}")


def analyze_body(
    inputs: Inputs,
    model: Optional[str],
    top_k: Optional[int],
    function_to_apply: Optional[ScoreFunction],
    truncate: Optional[bool],
    text_pair: Union[None, str, Sequence[Optional[str]]],
) -> Tuple[Dict[str, Any], bool]:
    """The JSON body of ``POST /analyze`` and whether the input was a single one.

    Options left at ``None`` are not sent, so the client works with servers that do
    not know them.
    """
    body: Dict[str, Any] = {}
    single = isinstance(inputs, (str, Mapping))
    if single:
        if text_pair is not None and not isinstance(text_pair, str):
            raise TypeError("for a single text, text_pair must be a str")
        one = _one_input(inputs, text_pair)  # type: ignore[arg-type]
        if isinstance(one, str):
            body["text"] = one
        else:
            body.update(one)
    else:
        if isinstance(inputs, (bytes, bytearray)):
            raise TypeError("inputs must be str, not bytes")
        items = list(inputs)  # type: ignore[arg-type]
        if text_pair is None:
            pairs: List[Optional[str]] = [None] * len(items)
        elif isinstance(text_pair, str):
            raise TypeError("for a batch, text_pair must be a list (one per text)")
        else:
            pairs = list(text_pair)
            if len(pairs) != len(items):
                raise ValueError(f"{len(items)} texts but {len(pairs)} text_pair values")
        body["texts"] = [_one_input(item, pair) for item, pair in zip(items, pairs)]
    if model is not None:
        body["model"] = model
    if top_k is not None:
        body["top_k"] = top_k
    if function_to_apply is not None:
        body["function_to_apply"] = function_to_apply
    if truncate is not None:
        body["truncate"] = truncate
    return body, single


def cache_headers(cache: CacheMode) -> Dict[str, str]:
    """The ``Cache-Control`` header for a ``cache`` argument."""
    if cache is None or cache is True:
        return {}
    if cache is False:
        return {"Cache-Control": "no-store"}
    if isinstance(cache, str) and cache in ("no-cache", "no-store"):
        return {"Cache-Control": cache}
    raise ValueError("cache must be None, True, False, 'no-cache' or 'no-store'")


def pipeline_output(response: AnalyzeResponse, single: bool, top_k: Any) -> PipelineOutput:
    """Shapes an analysis like transformers' ``pipeline("sentiment-analysis")(inputs, top_k=...)``.

    * ``top_k`` left out: ``[{"label", "score"}]`` for a single input, one such dict
      per input for a list;
    * ``top_k=k`` (or ``None``, all labels): a list of dicts for a single input, a
      list of lists for a list.
    """
    if top_k is DEFAULT:
        return [{"label": r.label, "score": r.score} for r in response.results]
    per_input = []
    for r in response.results:
        scores = r.scores or []
        if top_k is not None:
            scores = scores[:top_k]  # the server already cut them; harmless
        per_input.append([s.to_dict() for s in scores])
    return per_input[0] if single else per_input


def model_path(name: str, suffix: str = "") -> str:
    return f"/models/{quote(name, safe='')}{suffix}"


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class BaseClient:
    """Configuration and helpers shared by :class:`Client` and :class:`AsyncClient`."""

    def __init__(
        self,
        url: str,
        api_key: Optional[str] = None,
        timeout: Optional[float] = 10.0,
        max_retries: int = 3,
        *,
        admin_key: Optional[str] = None,
        backoff_factor: float = 0.5,
        max_backoff: float = 30.0,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.admin_key = admin_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.max_backoff = max_backoff
        self._headers: Dict[str, str] = {"User-Agent": f"sentiserve-client-python/{__version__}", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        if headers:
            self._headers.update(headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- retries ---------------------------------------------------------------

    def _should_retry(self, request: _Request, response: httpx.Response, attempt: int) -> bool:
        return request.retry and response.status_code in RETRY_STATUSES and attempt < self.max_retries

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float:
        """``Retry-After`` when the server sent it, else ``backoff_factor * 2**attempt``; at most ``max_backoff``."""
        after = parse_retry_after(response.headers.get("retry-after"))
        delay = after if after is not None else self.backoff_factor * (2**attempt)
        return min(max(0.0, delay), self.max_backoff)

    # -- requests and answers --------------------------------------------------

    def _request_headers(self, request: _Request) -> Dict[str, str]:
        headers = dict(request.headers)
        if request.admin and self.admin_key:
            headers["Authorization"] = f"Bearer {self.admin_key}"
        return headers

    @staticmethod
    def _transport_error(exc: Exception, request: _Request) -> SentiserveError:
        what = f"{request.method} {request.path}"
        if isinstance(exc, httpx.TimeoutException):
            return Timeout(f"{what} timed out: {exc}", type="timeout")
        return ConnectionFailed(f"{what} failed: {exc}", type="connection_error")

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return response.text

    def _answer(self, response: httpx.Response, request: Optional[_Request] = None) -> Any:
        """The decoded JSON of a 2xx response; raises the typed error otherwise."""
        body = self._decode(response)
        if response.is_success:
            if isinstance(body, str) and response.content:
                raise SentiserveError(
                    f"the server answered {response.status_code} with a body that is not JSON",
                    status=response.status_code,
                    type="invalid_response",
                    body=body,
                )
            return body
        raise error_from_response(
            response.status_code,
            body,
            response.headers,
            parse_retry_after(response.headers.get("retry-after")),
            request.errors if request is not None else None,
        )

    def _health(self, response: httpx.Response) -> Health:
        body = self._decode(response)
        if response.status_code in (200, 503) and isinstance(body, dict) and "status" in body and "error" not in body:
            return Health.from_dict(body, http_status=response.status_code)
        return Health.from_dict(self._answer(response), http_status=response.status_code)
