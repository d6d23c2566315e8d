"""Zero-shot classification and re-ranking: request building, and the methods that
:class:`~sentiserve_client.Client` and :class:`~sentiserve_client.AsyncClient` get
from :class:`TaskMethods` and :class:`AsyncTaskMethods`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union, overload

from ._core import CacheMode, _Request, cache_headers
from ._errors import ModelNotFound, NotAReranker, NotNli
from ._task_types import Rank, ZeroShotResult

__all__ = ["TaskMethods", "AsyncTaskMethods", "zero_shot_request", "rerank_request", "ZeroShotOutput"]

#: Candidate labels: a list, or one comma-separated string (split by the server).
Labels = Union[str, Sequence[str]]
ZeroShotOutput = Union[ZeroShotResult, List[ZeroShotResult]]


def _texts(value: Any, what: str) -> List[str]:
    """``value`` as a list of str; a lone str, bytes or non-str items are a TypeError."""
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"{what} must be a list of str, not a {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"every item of {what} must be a str, not {type(item).__name__}")
    return items


def zero_shot_request(
    inputs: Union[str, Sequence[str]],
    candidate_labels: Labels,
    hypothesis_template: Optional[str],
    multi_label: Optional[bool],
    model: Optional[str],
    truncate: Optional[bool],
    cache: CacheMode,
) -> Tuple[_Request, bool]:
    """The ``POST /zero-shot-classification`` request and whether the input was one text.

    Options left at ``None`` are not sent (the server's defaults apply).
    """
    single = isinstance(inputs, str)
    body: Dict[str, Any] = {"text": inputs} if single else {"texts": _texts(inputs, "texts")}
    body["candidate_labels"] = candidate_labels if isinstance(candidate_labels, str) else _texts(candidate_labels, "candidate_labels")
    for key, value in (
        ("hypothesis_template", hypothesis_template),
        ("multi_label", multi_label),
        ("model", model),
        ("truncate", truncate),
    ):
        if value is not None:
            body[key] = value
    request = _Request("POST", "/zero-shot-classification", json=body, headers=cache_headers(cache), errors={409: NotNli})
    return request, single


def rerank_request(
    query: str,
    texts: Sequence[str],
    model: Optional[str],
    raw_scores: Optional[bool],
    return_text: Optional[bool],
    truncate: Optional[bool],
    truncation_direction: Optional[str],
    cache: CacheMode,
) -> _Request:
    """The ``POST /rerank[?model=NAME]`` request (Hugging Face TEI's body).

    Options left at ``None`` are not sent. The route may answer errors in TEI's shape,
    which names no sentiserve type: there 404 is an unknown model and 424 (409 on
    older servers) a model that is not a cross-encoder.
    """
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, not {type(query).__name__}")
    body: Dict[str, Any] = {"query": query, "texts": _texts(texts, "texts")}
    for key, value in (
        ("raw_scores", raw_scores),
        ("return_text", return_text),
        ("truncate", truncate),
        ("truncation_direction", truncation_direction),
    ):
        if value is not None:
            body[key] = value
    return _Request(
        "POST",
        "/rerank",
        params={"model": model} if model is not None else None,
        json=body,
        headers=cache_headers(cache),
        errors={404: ModelNotFound, 409: NotAReranker, 424: NotAReranker},
    )


def zero_shot_output(answer: Any, single: bool) -> ZeroShotOutput:
    if single:
        return ZeroShotResult.from_dict(answer)
    return [ZeroShotResult.from_dict(item) for item in answer]


def ranks(answer: Any) -> List[Rank]:
    return [Rank.from_dict(item) for item in answer]


class TaskMethods:
    """``zero_shot`` and ``rerank`` of :class:`~sentiserve_client.Client`."""

    if TYPE_CHECKING:

        def _call(self, request: _Request) -> Any: ...

    @overload
    def zero_shot(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]; str comes first
        self,
        text_or_texts: str,
        candidate_labels: Labels,
        *,
        hypothesis_template: Optional[str] = None,
        multi_label: Optional[bool] = None,
        model: Optional[str] = None,
        truncate: Optional[bool] = None,
        cache: CacheMode = None,
    ) -> ZeroShotResult: ...

    @overload
    def zero_shot(
        self,
        text_or_texts: Sequence[str],
        candidate_labels: Labels,
        *,
        hypothesis_template: Optional[str] = None,
        multi_label: Optional[bool] = None,
        model: Optional[str] = None,
        truncate: Optional[bool] = None,
        cache: CacheMode = None,
    ) -> List[ZeroShotResult]: ...

    def zero_shot(
        self,
        text_or_texts: Union[str, Sequence[str]],
        candidate_labels: Labels,
        *,
        hypothesis_template: Optional[str] = None,
        multi_label: Optional[bool] = None,
        model: Optional[str] = None,
        truncate: Optional[bool] = None,
        cache: CacheMode = None,
    ) -> ZeroShotOutput:
        """Zero-shot classification on an NLI model (``POST /zero-shot-classification``),
        as transformers' ``pipeline("zero-shot-classification")``.

        Args:
            text_or_texts: a str (one :class:`ZeroShotResult`), or a list of str (a
                list of them, in order).
            candidate_labels: the labels to choose from: a list, or one
                comma-separated string.
            hypothesis_template: each label becomes this sentence with the label in
                place of ``{}`` (the server's default: ``"This example is {}."``).
            multi_label: ``True`` scores each label on its own (entailment against
                contradiction); the server's default, ``False``, makes the scores sum to 1.
            model: a configured NLI model; the server's default when ``None``.
            truncate: ``False`` makes over-long (text, hypothesis) pairs fail with
                :class:`InputTooLong` instead of being cut.
            cache: as for :meth:`analyze` (each (text, hypothesis) pair is cached).

        Raises:
            NotNli: the model has no ``entail...`` label.
            InvalidRequest: no labels, or a template without ``{}``.
        """
        request, single = zero_shot_request(
            text_or_texts, candidate_labels, hypothesis_template, multi_label, model, truncate, cache
        )
        return zero_shot_output(self._call(request), single)

    def rerank(
        self,
        query: str,
        texts: Sequence[str],
        *,
        model: Optional[str] = None,
        raw_scores: Optional[bool] = None,
        return_text: Optional[bool] = None,
        truncate: Optional[bool] = None,
        truncation_direction: Optional[str] = None,
        cache: CacheMode = None,
    ) -> List[Rank]:
        """Ranks ``texts`` by relevance to ``query`` with a cross-encoder (Hugging Face
        TEI's ``POST /rerank``); every text once, best first.

        Args:
            query: the query every text is scored against.
            texts: the texts to rank (a list of str).
            model: a configured cross-encoder (one label); the server's default when ``None``.
            raw_scores: ``True`` gives the logit instead of sigmoid(logit).
            return_text: ``True`` fills each :class:`Rank`'s ``text``.
            truncate: ``False`` makes over-long (query, text) pairs fail with
                :class:`InputTooLong` instead of being cut.
            truncation_direction: ``"Right"`` (TEI's default: cut the end) or ``"Left"``
                (cut the start; servers before it accept ``"Right"`` only).
            cache: as for :meth:`analyze` (each (query, text) pair is cached).

        Raises:
            NotAReranker: the model has more than one label.
        """
        request = rerank_request(query, texts, model, raw_scores, return_text, truncate, truncation_direction, cache)
        return ranks(self._call(request))


class AsyncTaskMethods:
    """``zero_shot`` and ``rerank`` of :class:`~sentiserve_client.AsyncClient`, as coroutines."""

    if TYPE_CHECKING:

        async def _call(self, request: _Request) -> Any: ...

    @overload
    async def zero_shot(  # type: ignore[overload-overlap]
        self,
        text_or_texts: str,
        candidate_labels: Labels,
        *,
        hypothesis_template: Optional[str] = None,
        multi_label: Optional[bool] = None,
        model: Optional[str] = None,
        truncate: Optional[bool] = None,
        cache: CacheMode = None,
    ) -> ZeroShotResult: ...

    @overload
    async def zero_shot(
        self,
        text_or_texts: Sequence[str],
        candidate_labels: Labels,
        *,
        hypothesis_template: Optional[str] = None,
        multi_label: Optional[bool] = None,
        model: Optional[str] = None,
        truncate: Optional[bool] = None,
        cache: CacheMode = None,
    ) -> List[ZeroShotResult]: ...

    async def zero_shot(
        self,
        text_or_texts: Union[str, Sequence[str]],
        candidate_labels: Labels,
        *,
        hypothesis_template: Optional[str] = None,
        multi_label: Optional[bool] = None,
        model: Optional[str] = None,
        truncate: Optional[bool] = None,
        cache: CacheMode = None,
    ) -> ZeroShotOutput:
        """See :meth:`Client.zero_shot`."""
        request, single = zero_shot_request(
            text_or_texts, candidate_labels, hypothesis_template, multi_label, model, truncate, cache
        )
        return zero_shot_output(await self._call(request), single)

    async def rerank(
        self,
        query: str,
        texts: Sequence[str],
        *,
        model: Optional[str] = None,
        raw_scores: Optional[bool] = None,
        return_text: Optional[bool] = None,
        truncate: Optional[bool] = None,
        truncation_direction: Optional[str] = None,
        cache: CacheMode = None,
    ) -> List[Rank]:
        """See :meth:`Client.rerank`."""
        request = rerank_request(query, texts, model, raw_scores, return_text, truncate, truncation_direction, cache)
        return ranks(await self._call(request))
