"""``zero_shot`` and ``rerank`` against a real sentiserve, on the tiny fixtures.

The server must also serve ``../shared/fixtures/tiny/deberta-v2`` (an NLI model) as
``nli`` and ``../shared/fixtures/tiny/bert-reranker`` (a one-label cross-encoder) as
``reranker`` (``$SENTISERVE_NLI_MODEL`` and ``$SENTISERVE_RERANK_MODEL`` rename them);
its default model is a two-label classifier (MiniLM SST-2), neither NLI nor re-ranker.
``tests/python_client.rs`` starts such a server. The answers are compared with
transformers' (``../shared/fixtures/tasks/zero-shot.jsonl`` and
``../shared/fixtures/tiny/bert-reranker/rerank.jsonl``) within 1e-4.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List

import anyio
import pytest

from sentiserve_client import (
    AsyncClient,
    Client,
    IncompatibleModel,
    InvalidRequest,
    ModelNotFound,
    NotAReranker,
    NotNli,
    Rank,
    ZeroShotResult,
)

pytestmark = pytest.mark.server

NLI = os.environ.get("SENTISERVE_NLI_MODEL", "nli")
RERANKER = os.environ.get("SENTISERVE_RERANK_MODEL", "reranker")
SHARED = Path(__file__).resolve().parents[3].parent / "shared"
TOLERANCE = 1e-4


def _rows(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


ZERO_SHOT = _rows(SHARED / "fixtures/tasks/zero-shot.jsonl")
RERANK = _rows(SHARED / "fixtures/tiny/bert-reranker/rerank.jsonl")


@pytest.fixture(scope="module", autouse=True)
def task_models(client_kwargs: Dict[str, Any]) -> Iterator[None]:
    """Skips unless the server has both models; afterwards, clears their cache entries
    (so the other modules' cache counts hold when the suite runs again)."""
    with Client(**client_kwargs) as client:
        names = client.models().names
        missing = [name for name in (NLI, RERANKER) if name not in names]
        if missing:
            pytest.skip(f"the server has no model named {missing} (see this module's docstring)")
        yield
        for name in (NLI, RERANKER):
            client.clear_cache(name)


@pytest.fixture
async def aclient(client_kwargs: Dict[str, Any]) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(**client_kwargs) as c:
        yield c


def assert_zero_shot(result: ZeroShotResult, case: Dict[str, Any]) -> None:
    """``result`` is the pipeline's answer for ``case`` within the tolerance, best first."""
    assert isinstance(result, ZeroShotResult)
    assert result.sequence == case["sequence"]
    assert sorted(result.labels) == sorted(case["labels"])
    for label, want in zip(case["labels"], case["scores"]):
        got = result.score_of(label)
        assert got is not None and abs(got - want) < TOLERANCE, (label, got, want, case)
    assert result.scores == sorted(result.scores, reverse=True), "best first"
    # Near-ties may swap within the tolerance; the fixtures' best label is clear.
    assert result.label == case["labels"][0]
    if not case["multi_label"]:
        assert math.isclose(sum(result.scores), 1.0, abs_tol=TOLERANCE)


def assert_ranks(ranks: List[Rank], case: Dict[str, Any], with_text: bool = False) -> None:
    """``ranks`` is transformers' ranking for ``case``: same order, scores within the tolerance."""
    assert all(isinstance(rank, Rank) for rank in ranks)
    assert [rank.index for rank in ranks] == [want["index"] for want in case["ranks"]]
    for rank, want in zip(ranks, case["ranks"]):
        assert abs(rank.score - want["score"]) < TOLERANCE, (rank, want)
        assert rank.text == (case["texts"][rank.index] if with_text else None)


# -- zero-shot -----------------------------------------------------------------------


def test_fixtures_are_there() -> None:
    assert len(ZERO_SHOT) >= 10 and any(c["multi_label"] for c in ZERO_SHOT)
    assert len(RERANK) >= 2 and any(c["raw_scores"] for c in RERANK)


@pytest.mark.parametrize("case", ZERO_SHOT, ids=lambda c: f"{c['sequence'][:20]}|multi={c['multi_label']}")
def test_zero_shot_matches_the_pipeline(client: Client, case: Dict[str, Any]) -> None:
    result = client.zero_shot(
        case["sequence"],
        case["candidate_labels"],
        hypothesis_template=case["hypothesis_template"],
        multi_label=case["multi_label"],
        model=NLI,
    )
    assert_zero_shot(result, case)
    assert result.to_dict() == {"sequence": result.sequence, "labels": result.labels, "scores": result.scores}


def test_zero_shot_batch_is_in_order_and_agrees_with_single_texts(client: Client) -> None:
    default = [c for c in ZERO_SHOT if c["hypothesis_template"] == "This example is {}." and not c["multi_label"]]
    cases = [c for c in default if c["candidate_labels"] == default[0]["candidate_labels"]]
    assert len(cases) >= 2, "the fixture has several texts with the same labels"
    # Server defaults: "This example is {}." and multi_label false, so both are left out.
    batch = client.zero_shot([c["sequence"] for c in cases], cases[0]["candidate_labels"], model=NLI)
    assert isinstance(batch, list) and len(batch) == len(cases)
    for result, case in zip(batch, cases):
        assert_zero_shot(result, case)
    # A comma-separated string of labels is the same candidates.
    joined = client.zero_shot(cases[0]["sequence"], ", ".join(cases[0]["candidate_labels"]), model=NLI)
    assert_zero_shot(joined, cases[0])


def test_zero_shot_on_a_classifier_is_not_nli(client: Client) -> None:
    with pytest.raises(NotNli) as caught:
        client.zero_shot("The battery lasts two days.", ["technology", "sports"])  # the default model
    assert isinstance(caught.value, IncompatibleModel)
    assert (caught.value.status, caught.value.type) == (409, "not_nli")
    assert "entail" in caught.value.message


def test_zero_shot_bad_requests(client: Client) -> None:
    with pytest.raises(InvalidRequest) as caught:
        client.zero_shot("t", ["a"], hypothesis_template="no slot", model=NLI)
    assert (caught.value.status, caught.value.type) == (422, "invalid_request")
    with pytest.raises(InvalidRequest):
        client.zero_shot("t", [], model=NLI)
    with pytest.raises(ModelNotFound):
        client.zero_shot("t", ["a"], model="no-such-model")


@pytest.mark.anyio
async def test_async_zero_shot_matches_the_pipeline_concurrently(aclient: AsyncClient) -> None:
    results: Dict[int, ZeroShotResult] = {}

    async def one(i: int, case: Dict[str, Any]) -> None:
        results[i] = await aclient.zero_shot(
            case["sequence"],
            case["candidate_labels"],
            hypothesis_template=case["hypothesis_template"],
            multi_label=case["multi_label"],
            model=NLI,
        )

    async with anyio.create_task_group() as group:
        for i, case in enumerate(ZERO_SHOT):
            group.start_soon(one, i, case)
    for i, case in enumerate(ZERO_SHOT):
        assert_zero_shot(results[i], case)
    batch = await aclient.zero_shot([ZERO_SHOT[0]["sequence"]], ZERO_SHOT[0]["candidate_labels"], model=NLI)
    assert isinstance(batch, list) and [r.sequence for r in batch] == [ZERO_SHOT[0]["sequence"]]


@pytest.mark.anyio
async def test_async_zero_shot_on_a_classifier_is_not_nli(aclient: AsyncClient) -> None:
    with pytest.raises(NotNli) as caught:
        await aclient.zero_shot("t", ["a", "b"])
    assert caught.value.status == 409


# -- rerank --------------------------------------------------------------------------


@pytest.mark.parametrize("case", RERANK, ids=lambda c: f"{c['query']}|raw={c['raw_scores']}")
def test_rerank_matches_transformers(client: Client, case: Dict[str, Any]) -> None:
    ranks = client.rerank(case["query"], case["texts"], model=RERANKER, raw_scores=case["raw_scores"])
    assert_ranks(ranks, case)
    with_text = client.rerank(
        case["query"], case["texts"], model=RERANKER, raw_scores=case["raw_scores"], return_text=True
    )
    assert_ranks(with_text, case, with_text=True)
    assert with_text[0].to_dict() == {"index": with_text[0].index, "score": with_text[0].score, "text": with_text[0].text}


def test_rerank_again_is_answered_from_the_cache(client: Client, unique: str) -> None:
    texts = [f"{t} [{unique}]" for t in RERANK[0]["texts"] if t]
    first = client.rerank(RERANK[0]["query"], texts, model=RERANKER)
    before = client.cache_stats().hits
    again = client.rerank(RERANK[0]["query"], texts, model=RERANKER)
    assert client.cache_stats().hits - before == len(texts), "each (query, text) pair is a cache hit"
    assert again == first


def test_rerank_on_a_classifier_is_not_a_reranker(client: Client) -> None:
    with pytest.raises(NotAReranker) as caught:
        client.rerank("What is deep learning?", ["Neural nets.", "Cheese."])  # the default model: 2 labels
    error = caught.value
    assert isinstance(error, IncompatibleModel)
    # 409 `not_a_reranker`, or 424 with TEI's error shape (`error_type` "Backend").
    assert (error.status, error.type) in ((409, "not_a_reranker"), (424, "Backend")), repr(error)
    assert "2 labels" in error.message, error.message


def test_rerank_bad_requests(client: Client) -> None:
    with pytest.raises(ModelNotFound) as missing:
        client.rerank("q", ["a"], model="no-such-model")
    assert missing.value.status == 404
    with pytest.raises(InvalidRequest) as empty:
        client.rerank("q", [], model=RERANKER)
    assert empty.value.status in (400, 422)  # 400 with TEI's `Empty`
    with pytest.raises(InvalidRequest):  # "Right" or "Left" (servers before it: "Right" only)
        client.rerank("q", ["a"], model=RERANKER, truncation_direction="Middle")


@pytest.mark.anyio
async def test_async_rerank_matches_transformers_concurrently(aclient: AsyncClient) -> None:
    results: Dict[int, List[Rank]] = {}

    async def one(i: int, case: Dict[str, Any]) -> None:
        results[i] = await aclient.rerank(
            case["query"], case["texts"], model=RERANKER, raw_scores=case["raw_scores"], return_text=True
        )

    async with anyio.create_task_group() as group:
        for i, case in enumerate(RERANK):
            group.start_soon(one, i, case)
    for i, case in enumerate(RERANK):
        assert_ranks(results[i], case, with_text=True)


@pytest.mark.anyio
async def test_async_rerank_on_a_classifier_is_not_a_reranker(aclient: AsyncClient) -> None:
    with pytest.raises(NotAReranker) as caught:
        await aclient.rerank("q", ["a", "b"])
    assert caught.value.status in (409, 424)
    with pytest.raises(ModelNotFound):
        await aclient.rerank("q", ["a"], model="no-such-model")


# -- huggingface_hub's InferenceClient -----------------------------------------------------


def test_inference_client_zero_shot(client_kwargs: Dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    hf = huggingface_hub.InferenceClient(
        base_url=f"{client_kwargs['url']}/hf-inference/models/{NLI}", token=client_kwargs["api_key"], timeout=120
    )
    case = ZERO_SHOT[0]
    out = hf.zero_shot_classification(
        case["sequence"], case["candidate_labels"], multi_label=case["multi_label"], hypothesis_template=case["hypothesis_template"]
    )
    assert [o.label for o in out] == case["labels"]
    assert all(abs(o.score - want) < TOLERANCE for o, want in zip(out, case["scores"]))
