"""Server features newer than the first release: ``top_k``, ``function_to_apply``,
``truncate``, text pairs, ``truncated``, ``Cache-Control``, ``Retry-After``, and the TEI
routes. These fail against a server that lacks them (it refuses the unknown fields
with 422)."""

from __future__ import annotations

import math
from typing import Any, Dict

import httpx
import pytest
from conftest import NEGATIVE_TEXT, POSITIVE_TEXT

from sentiserve_client import AsyncClient, Client, InputTooLong, InvalidRequest, PayloadTooLarge, Unavailable

pytestmark = pytest.mark.server

LONG_TEXT = "This movie was great and I loved every minute of it. " * 200  # far over 512 tokens


# -- top_k and the pipeline's server-side top_k -----------------------------------------


def test_top_k_cuts_scores(client: Client) -> None:
    response = client.analyze([POSITIVE_TEXT, NEGATIVE_TEXT], top_k=1)
    assert [len(r.scores) for r in response] == [1, 1]
    assert [r.scores[0].label for r in response] == ["POSITIVE", "NEGATIVE"]
    assert [r.label for r in response] == ["POSITIVE", "NEGATIVE"]
    assert len(client.analyze(POSITIVE_TEXT, top_k=5)[0].scores) == 2  # more than there are labels


def test_top_k_zero_is_invalid(client: Client) -> None:
    with pytest.raises(InvalidRequest) as caught:
        client.analyze(POSITIVE_TEXT, top_k=0)
    assert caught.value.status == 422


def test_pipeline_top_k_numbers(client: Client) -> None:
    one = client.predict_pipeline(POSITIVE_TEXT, top_k=1)
    assert len(one) == 1 and one[0]["label"] == "POSITIVE"
    assert set(one[0]) == {"label", "score"}

    two = client.predict_pipeline(NEGATIVE_TEXT, top_k=2)
    assert [d["label"] for d in two] == ["NEGATIVE", "POSITIVE"]  # type: ignore[index]

    nested = client.predict_pipeline([POSITIVE_TEXT, NEGATIVE_TEXT], top_k=1)
    assert isinstance(nested, list) and len(nested) == 2
    assert all(isinstance(per, list) and len(per) == 1 for per in nested)
    assert [per[0]["label"] for per in nested] == ["POSITIVE", "NEGATIVE"]  # type: ignore[index]


# -- function_to_apply ----------------------------------------------------------------


def test_function_to_apply(client: Client) -> None:
    softmax = client.analyze(POSITIVE_TEXT, function_to_apply="softmax")[0]
    assert math.isclose(sum(s.score for s in softmax.scores), 1.0, abs_tol=1e-4)

    sigmoid = client.analyze(POSITIVE_TEXT, function_to_apply="sigmoid")[0]
    assert all(0.0 < s.score < 1.0 for s in sigmoid.scores)
    assert not math.isclose(sum(s.score for s in sigmoid.scores), 1.0, abs_tol=1e-3)

    logits = client.analyze(POSITIVE_TEXT, function_to_apply="none")[0]
    raw = {s.label: s.score for s in logits.scores}
    # The ranking does not depend on the function.
    assert softmax.label == sigmoid.label == logits.label == "POSITIVE"
    # The raw scores are the logits the other two are computed from.
    total = sum(math.exp(v) for v in raw.values())
    for s in softmax.scores:
        assert s.score == pytest.approx(math.exp(raw[s.label]) / total, abs=1e-4)
    for s in sigmoid.scores:
        assert s.score == pytest.approx(1 / (1 + math.exp(-raw[s.label])), abs=1e-4)


def test_pipeline_function_to_apply(client: Client) -> None:
    logits = client.analyze(POSITIVE_TEXT, function_to_apply="none")[0]
    out = client.predict_pipeline(POSITIVE_TEXT, top_k=None, function_to_apply="none")
    assert out == [s.to_dict() for s in logits.scores]
    best = client.predict_pipeline(POSITIVE_TEXT, function_to_apply="sigmoid")
    assert best == [{"label": "POSITIVE", "score": pytest.approx(1 / (1 + math.exp(-logits.score)), abs=1e-4)}]


def test_unknown_function_is_invalid(client: Client) -> None:
    with pytest.raises(InvalidRequest):
        client.analyze(POSITIVE_TEXT, function_to_apply="tanh")


# -- truncation -------------------------------------------------------------------------


def test_truncated_flag(client: Client) -> None:
    short, long = client.analyze([POSITIVE_TEXT, LONG_TEXT])
    assert short.truncated is False
    assert long.truncated is True
    assert "truncated" in client.analyze(POSITIVE_TEXT).raw["results"][0]
    assert client.analyze(LONG_TEXT, truncate=True)[0].truncated is True


def test_truncate_false_refuses_long_input(client: Client) -> None:
    with pytest.raises(InputTooLong) as caught:
        client.analyze(LONG_TEXT, truncate=False)
    error = caught.value
    assert isinstance(error, PayloadTooLarge)
    assert (error.status, error.type) == (413, "input_too_long")
    # A short text is fine either way.
    assert client.analyze(POSITIVE_TEXT, truncate=False)[0].truncated is False


# -- text pairs ------------------------------------------------------------------------


def test_text_pairs(client: Client, unique: str) -> None:
    single = client.analyze(POSITIVE_TEXT, text_pair=f"It was wonderful. {unique}")
    assert len(single.results) == 1
    assert single[0].label in {"POSITIVE", "NEGATIVE"}
    assert single[0].cached is False

    batch = client.analyze(
        [POSITIVE_TEXT, NEGATIVE_TEXT, (POSITIVE_TEXT, f"It was wonderful. {unique}")],
        text_pair=None,
    )
    assert len(batch) == 3
    # The same pair again is cached; the pair differs from the single text in the cache.
    assert batch[2].cached is True
    assert batch[2].score == pytest.approx(single[0].score)
    alone = client.analyze(POSITIVE_TEXT)[0]
    assert alone.score != pytest.approx(single[0].score, abs=1e-6)


def test_text_pair_argument_for_a_batch(client: Client) -> None:
    response = client.analyze([POSITIVE_TEXT, NEGATIVE_TEXT], text_pair=["Great.", None])
    assert len(response) == 2


# -- Cache-Control -----------------------------------------------------------------------


def test_no_store_neither_reads_nor_writes(client: Client, unique: str) -> None:
    text = f"{POSITIVE_TEXT} no-store {unique}"
    assert client.analyze(text, cache=False)[0].cached is False
    assert client.analyze(text, cache="no-store")[0].cached is False
    assert client.analyze(text)[0].cached is False  # nothing was stored


def test_no_cache_recomputes_and_refreshes(client: Client, unique: str) -> None:
    text = f"{NEGATIVE_TEXT} no-cache {unique}"
    assert client.analyze(text)[0].cached is False
    assert client.analyze(text)[0].cached is True
    assert client.analyze(text, cache="no-cache")[0].cached is False
    assert client.analyze(text)[0].cached is True


# -- Retry-After -------------------------------------------------------------------------


def test_unavailable_model_says_when_to_retry(client_kwargs: Dict[str, Any]) -> None:
    """A 503 carries ``Retry-After`` (needs a configured model that cannot load, e.g. a Hub
    id on an offline machine)."""
    with Client(**dict(client_kwargs, max_retries=0)) as client:
        candidates = [m.name for m in client.models() if m.state == "failed" or not m.source.startswith("/")]
        for name in candidates:
            try:
                client.load(name)
            except Unavailable as error:
                assert error.status == 503
                assert error.type == "model_unavailable"
                assert error.retry_after is not None and error.retry_after >= 0
                return
    pytest.skip("no configured model fails to load here")


# -- compatibility routes -----------------------------------------------------------------


def _headers(client_kwargs: Dict[str, Any]) -> Dict[str, str]:
    key = client_kwargs["api_key"]
    return {"Authorization": f"Bearer {key}"} if key else {}


def test_tei_predict_and_info(client_kwargs: Dict[str, Any]) -> None:
    with httpx.Client(base_url=client_kwargs["url"], headers=_headers(client_kwargs), timeout=120) as http:
        single = http.post("/predict", json={"inputs": POSITIVE_TEXT})
        assert single.status_code == 200, single.text
        assert [d["label"] for d in single.json()] == ["POSITIVE", "NEGATIVE"]

        batch = http.post("/predict", json={"inputs": [[POSITIVE_TEXT], [NEGATIVE_TEXT]]})
        assert [per[0]["label"] for per in batch.json()] == ["POSITIVE", "NEGATIVE"]

        info = http.get("/info")
        assert info.status_code == 200, info.text
        labels = info.json()["model_type"]["classifier"]["id2label"]
        assert set(labels.values()) == {"POSITIVE", "NEGATIVE"}


def test_hf_inference_route_shape(client_kwargs: Dict[str, Any], default_model: str) -> None:
    with httpx.Client(base_url=client_kwargs["url"], headers=_headers(client_kwargs), timeout=120) as http:
        answer = http.post(
            f"/hf-inference/models/{default_model}",
            json={"inputs": [POSITIVE_TEXT, NEGATIVE_TEXT], "parameters": {"top_k": 1}},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()[0][0]["label"] == "POSITIVE"
        assert [len(per) for per in answer.json()] == [1, 1]


@pytest.mark.anyio
async def test_async_new_options(client_kwargs: Dict[str, Any]) -> None:
    async with AsyncClient(**client_kwargs) as client:
        response = await client.analyze(POSITIVE_TEXT, top_k=1, function_to_apply="sigmoid", truncate=True, cache="no-store")
        assert len(response[0].scores) == 1
        assert response[0].truncated is False
        nested = await client.predict_pipeline([NEGATIVE_TEXT], top_k=1)
        assert len(nested) == 1 and len(nested[0]) == 1
        assert nested[0][0]["label"] == "NEGATIVE"  # type: ignore[index]
