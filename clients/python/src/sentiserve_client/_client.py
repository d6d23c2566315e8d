"""The synchronous and asynchronous clients."""

from __future__ import annotations

import time
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import httpx

try:  # httpx depends on anyio; it makes retries work under trio as well as asyncio
    from anyio import sleep as _async_sleep
except ImportError:  # pragma: no cover
    from asyncio import sleep as _async_sleep  # type: ignore[assignment]

from ._core import (
    DEFAULT,
    BaseClient,
    CacheMode,
    Inputs,
    PipelineOutput,
    ScoreFunction,
    _Request,
    analyze_body,
    cache_headers,
    model_path,
    pipeline_output,
)
from ._tasks import AsyncTaskMethods, TaskMethods
from ._types import AnalyzeResponse, CacheStats, ClearResponse, Health, ModelInfo, ModelsResponse

__all__ = ["Client", "AsyncClient"]

TextPair = Union[None, str, Sequence[Optional[str]]]


def _analyze_request(
    inputs: Inputs,
    model: Optional[str],
    top_k: Optional[int],
    function_to_apply: Optional[ScoreFunction],
    truncate: Optional[bool],
    text_pair: TextPair,
    cache: CacheMode,
) -> Tuple[_Request, bool]:
    body, single = analyze_body(inputs, model, top_k, function_to_apply, truncate, text_pair)
    return _Request("POST", "/analyze", json=body, headers=cache_headers(cache)), single


def _clear_request(model: Optional[str]) -> _Request:
    return _Request("DELETE", "/cache", params={"model": model} if model is not None else None, admin=True)


class Client(BaseClient, TaskMethods):
    """Synchronous client for a sentiserve server.

    Besides text classification (:meth:`analyze`, :meth:`predict_pipeline`) it has
    :meth:`zero_shot` (an NLI model) and :meth:`rerank` (a cross-encoder).

    Args:
        url: base URL of the server, e.g. ``"http://127.0.0.1:8080"``.
        api_key: sent as ``Authorization: Bearer KEY``.
        timeout: seconds for each HTTP request (``None``: no limit).
        max_retries: how many times a 429 or 503 answer is retried (0: never).
        admin_key: key for load/unload/clear-cache when the server has a separate one.
        backoff_factor: first retry delay in seconds when the server sends no
            ``Retry-After``; doubled at each retry.
        max_backoff: longest wait before one retry, in seconds.
        headers: extra headers for every request.
        transport: an ``httpx`` transport (tests, proxies, mounts).

    Use it as a context manager, or call :meth:`close`.
    """

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
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        super().__init__(
            url,
            api_key,
            timeout,
            max_retries,
            admin_key=admin_key,
            backoff_factor=backoff_factor,
            max_backoff=max_backoff,
            headers=headers,
        )
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=self._headers, transport=transport)

    # -- plumbing ------------------------------------------------------------

    def _send(self, request: _Request) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    request.method,
                    request.path,
                    params=request.params,
                    json=request.json,
                    headers=self._request_headers(request),
                )
            except httpx.TransportError as exc:
                raise self._transport_error(exc, request) from exc
            if not self._should_retry(request, response, attempt):
                return response
            delay = self._retry_delay(response, attempt)
            response.close()
            time.sleep(delay)
            attempt += 1

    def _call(self, request: _Request) -> Any:
        return self._answer(self._send(request), request)

    def close(self) -> None:
        """Closes the connection pool."""
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- inference -----------------------------------------------------------

    def analyze(
        self,
        text_or_texts: Inputs,
        model: Optional[str] = None,
        top_k: Optional[int] = None,
        function_to_apply: Optional[ScoreFunction] = None,
        truncate: Optional[bool] = None,
        text_pair: TextPair = None,
        cache: CacheMode = None,
    ) -> AnalyzeResponse:
        """Classifies one text or a batch (``POST /analyze``).

        Args:
            text_or_texts: a str (one result), or a list of inputs (one result each,
                in order). An input may also be a ``{"text", "text_pair"}`` mapping
                or, in a list, a ``(text, text_pair)`` tuple.
            model: a configured model name; the server's default when ``None``.
            top_k: keep only the best ``k`` labels in each result's ``scores``.
            function_to_apply: ``"softmax"``, ``"sigmoid"`` or ``"none"``.
            truncate: ``False`` makes over-long inputs fail with :class:`InputTooLong`
                instead of being cut.
            text_pair: the second sequence: a str for a single text, a list (one per
                text, ``None`` for none) for a batch.
            cache: ``False`` or ``"no-store"`` recomputes and stores nothing;
                ``"no-cache"`` recomputes and refreshes the cached entry.

        Options left at ``None`` are not sent.
        """
        request, _ = _analyze_request(text_or_texts, model, top_k, function_to_apply, truncate, text_pair, cache)
        return AnalyzeResponse.from_dict(self._call(request))

    def predict_pipeline(
        self,
        inputs: Inputs,
        model: Optional[str] = None,
        top_k: Optional[int] = DEFAULT,
        function_to_apply: Optional[ScoreFunction] = None,
    ) -> PipelineOutput:
        """Answers exactly as transformers' ``pipeline("sentiment-analysis")(inputs, ...)`` would.

        * a str, ``top_k`` left out: ``[{"label", "score"}]`` (best label only);
        * a list, ``top_k`` left out: ``[{"label", "score"}, ...]``, one per input;
        * ``top_k=k`` or ``top_k=None`` (all labels): a list of dicts for a str, a
          list of lists for a list.
        """
        k = top_k if isinstance(top_k, int) else None
        request, single = _analyze_request(inputs, model, k, function_to_apply, None, None, None)
        return pipeline_output(AnalyzeResponse.from_dict(self._call(request)), single, top_k)

    # -- models, cache, health -------------------------------------------------

    def models(self) -> ModelsResponse:
        """Every configured model and its state (``GET /models``)."""
        return ModelsResponse.from_dict(self._call(_Request("GET", "/models")))

    def load(self, name: str) -> ModelInfo:
        """Loads a configured model, or retries a failed load (``POST /models/{name}/load``)."""
        return ModelInfo.from_dict(self._call(_Request("POST", model_path(name, "/load"), admin=True)))

    def unload(self, name: str) -> ModelInfo:
        """Frees a model's memory; it loads again on next use (``DELETE /models/{name}``)."""
        return ModelInfo.from_dict(self._call(_Request("DELETE", model_path(name), admin=True)))

    def cache_stats(self) -> CacheStats:
        """The prediction cache's statistics (``GET /cache``)."""
        return CacheStats.from_dict(self._call(_Request("GET", "/cache")))

    def clear_cache(self, model: Optional[str] = None) -> ClearResponse:
        """Empties the prediction cache, or only ``model``'s entries (``DELETE /cache``)."""
        return ClearResponse.from_dict(self._call(_clear_request(model)))

    def health(self) -> Health:
        """Readiness (``GET /health``); a 503 "loading" answer is returned, not raised."""
        return self._health(self._send(_Request("GET", "/health", retry=False)))


class AsyncClient(BaseClient, AsyncTaskMethods):
    """Asynchronous twin of :class:`Client` (same arguments, ``await`` every method).

    Use ``async with AsyncClient(url) as client:``, or ``await client.aclose()``.
    Works under asyncio and trio.
    """

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
        transport: Optional[httpx.AsyncBaseTransport] = None,
    ) -> None:
        super().__init__(
            url,
            api_key,
            timeout,
            max_retries,
            admin_key=admin_key,
            backoff_factor=backoff_factor,
            max_backoff=max_backoff,
            headers=headers,
        )
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout, headers=self._headers, transport=transport)

    async def _send(self, request: _Request) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    request.method,
                    request.path,
                    params=request.params,
                    json=request.json,
                    headers=self._request_headers(request),
                )
            except httpx.TransportError as exc:
                raise self._transport_error(exc, request) from exc
            if not self._should_retry(request, response, attempt):
                return response
            delay = self._retry_delay(response, attempt)
            await response.aclose()
            await _async_sleep(delay)
            attempt += 1

    async def _call(self, request: _Request) -> Any:
        return self._answer(await self._send(request), request)

    async def aclose(self) -> None:
        """Closes the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def analyze(
        self,
        text_or_texts: Inputs,
        model: Optional[str] = None,
        top_k: Optional[int] = None,
        function_to_apply: Optional[ScoreFunction] = None,
        truncate: Optional[bool] = None,
        text_pair: TextPair = None,
        cache: CacheMode = None,
    ) -> AnalyzeResponse:
        """See :meth:`Client.analyze`."""
        request, _ = _analyze_request(text_or_texts, model, top_k, function_to_apply, truncate, text_pair, cache)
        return AnalyzeResponse.from_dict(await self._call(request))

    async def predict_pipeline(
        self,
        inputs: Inputs,
        model: Optional[str] = None,
        top_k: Optional[int] = DEFAULT,
        function_to_apply: Optional[ScoreFunction] = None,
    ) -> PipelineOutput:
        """See :meth:`Client.predict_pipeline`."""
        k = top_k if isinstance(top_k, int) else None
        request, single = _analyze_request(inputs, model, k, function_to_apply, None, None, None)
        return pipeline_output(AnalyzeResponse.from_dict(await self._call(request)), single, top_k)

    async def models(self) -> ModelsResponse:
        """See :meth:`Client.models`."""
        return ModelsResponse.from_dict(await self._call(_Request("GET", "/models")))

    async def load(self, name: str) -> ModelInfo:
        """See :meth:`Client.load`."""
        return ModelInfo.from_dict(await self._call(_Request("POST", model_path(name, "/load"), admin=True)))

    async def unload(self, name: str) -> ModelInfo:
        """See :meth:`Client.unload`."""
        return ModelInfo.from_dict(await self._call(_Request("DELETE", model_path(name), admin=True)))

    async def cache_stats(self) -> CacheStats:
        """See :meth:`Client.cache_stats`."""
        return CacheStats.from_dict(await self._call(_Request("GET", "/cache")))

    async def clear_cache(self, model: Optional[str] = None) -> ClearResponse:
        """See :meth:`Client.clear_cache`."""
        return ClearResponse.from_dict(await self._call(_clear_request(model)))

    async def health(self) -> Health:
        """See :meth:`Client.health`."""
        return self._health(await self._send(_Request("GET", "/health", retry=False)))
