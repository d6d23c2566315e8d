"""The synchronous client against a real sentiserve (current API)."""

from __future__ import annotations

import math
from typing import Any, Dict

import pytest
from conftest import NEGATIVE_TEXT, POSITIVE_TEXT

from sentiserve_client import (
    AnalyzeResponse,
    Client,
    InvalidRequest,
    ModelNotFound,
    NotFound,
    Result,
    SentiserveError,
    Unauthorized,
)

pytestmark = pytest.mark.server

LABELS = {"POSITIVE", "NEGATIVE"}


def assert_well_formed(result: Result) -> None:
    assert {s.label for s in result.scores} == LABELS
    assert [s.score for s in result.scores] == sorted((s.score for s in result.scores), reverse=True)
    assert result.scores[0].label == result.label
    assert result.scores[0].score == pytest.approx(result.score)
    assert math.isclose(sum(s.score for s in result.scores), 1.0, abs_tol=1e-4)
    assert isinstance(result.cached, bool)
    assert result.truncated is False


def test_health_is_ok(client: Client) -> None:
    health = client.health()
    assert health.ok, health
    assert health.http_status == 200


def test_analyze_one_text(client: Client, default_model: str) -> None:
    response = client.analyze(POSITIVE_TEXT)
    assert isinstance(response, AnalyzeResponse)
    assert response.model == default_model
    assert len(response.results) == 1
    result = response.results[0]
    assert result.label == "POSITIVE"
    assert result.score > 0.5
    assert_well_formed(result)


def test_analyze_batch_in_order(client: Client) -> None:
    response = client.analyze([POSITIVE_TEXT, NEGATIVE_TEXT, POSITIVE_TEXT])
    assert [r.label for r in response] == ["POSITIVE", "NEGATIVE", "POSITIVE"]
    for result in response:
        assert_well_formed(result)
    assert response[1].score_of("NEGATIVE") == pytest.approx(response[1].score)


def test_analyze_names_the_model(client: Client, default_model: str) -> None:
    response = client.analyze(NEGATIVE_TEXT, model=default_model)
    assert response.model == default_model
    assert response[0].label == "NEGATIVE"


def test_repeat_is_served_from_cache(client: Client, unique: str) -> None:
    text = f"{POSITIVE_TEXT} ({unique})"
    first = client.analyze(text)[0]
    second = client.analyze(text)[0]
    assert first.cached is False
    assert second.cached is True
    assert (second.label, second.score) == (first.label, pytest.approx(first.score))
    # In a batch, the known text is cached and the new one is not.
    mixed = client.analyze([text, f"{NEGATIVE_TEXT} ({unique})"])
    assert [r.cached for r in mixed] == [True, False]


# -- transformers pipeline shapes ------------------------------------------------


def assert_pipeline_dict(item: Dict[str, Any]) -> None:
    assert set(item) == {"label", "score"}
    assert isinstance(item["label"], str)
    assert isinstance(item["score"], float)


def test_pipeline_str_gives_top_label_in_a_list(client: Client) -> None:
    out = client.predict_pipeline(POSITIVE_TEXT)
    assert isinstance(out, list) and len(out) == 1
    assert_pipeline_dict(out[0])
    assert out[0]["label"] == "POSITIVE"


def test_pipeline_list_gives_one_dict_per_input(client: Client) -> None:
    out = client.predict_pipeline([POSITIVE_TEXT, NEGATIVE_TEXT])
    assert isinstance(out, list) and len(out) == 2
    for item in out:
        assert isinstance(item, dict)
        assert_pipeline_dict(item)
    assert [item["label"] for item in out] == ["POSITIVE", "NEGATIVE"]


def test_pipeline_top_k_none_gives_all_labels(client: Client) -> None:
    out = client.predict_pipeline(POSITIVE_TEXT, top_k=None)
    assert [d["label"] for d in out] == ["POSITIVE", "NEGATIVE"]
    for item in out:
        assert_pipeline_dict(item)
    assert out[0]["score"] >= out[1]["score"]

    batch = client.predict_pipeline([POSITIVE_TEXT, NEGATIVE_TEXT], top_k=None)
    assert isinstance(batch, list) and len(batch) == 2
    assert all(isinstance(per_input, list) and len(per_input) == 2 for per_input in batch)
    assert [per_input[0]["label"] for per_input in batch] == ["POSITIVE", "NEGATIVE"]


def test_pipeline_list_of_one_keeps_list_shape(client: Client) -> None:
    assert len(client.predict_pipeline([POSITIVE_TEXT])) == 1
    nested = client.predict_pipeline([POSITIVE_TEXT], top_k=None)
    assert len(nested) == 1 and isinstance(nested[0], list)


# -- models and cache --------------------------------------------------------------


def test_models_lists_the_default(client: Client, default_model: str) -> None:
    models = client.models()
    assert models.default == default_model
    assert default_model in models.names
    info = models.get(default_model)
    assert info is not None and info.default is True
    if info.loaded:
        assert set(info.labels or []) == LABELS
        assert info.max_tokens and info.max_tokens > 0


def test_unload_then_load(client: Client, default_model: str) -> None:
    try:
        unloaded = client.unload(default_model)
        assert unloaded.name == default_model
        assert unloaded.state == "unloaded"
        assert client.models().get(default_model).state == "unloaded"  # type: ignore[union-attr]
        loaded = client.load(default_model)
        assert loaded.state == "loaded"
        assert set(loaded.labels or []) == LABELS
        assert loaded.loads >= 2
        # Loading a loaded model is a no-op answered the same way.
        assert client.load(default_model).state == "loaded"
    finally:
        client.load(default_model)
    assert client.analyze(POSITIVE_TEXT)[0].label == "POSITIVE"


def test_unloaded_model_loads_on_first_use(client: Client, default_model: str) -> None:
    try:
        client.unload(default_model)
        assert client.analyze(NEGATIVE_TEXT)[0].label == "NEGATIVE"
        assert client.models().get(default_model).state == "loaded"  # type: ignore[union-attr]
    finally:
        client.load(default_model)


def test_cache_stats_and_clear_one_model(client: Client, default_model: str, unique: str) -> None:
    client.analyze(f"{POSITIVE_TEXT} {unique}")
    stats = client.cache_stats()
    assert stats.memory_entries >= 1
    assert stats.tier("memory") is not None
    assert stats.capacity_bytes > 0

    cleared = client.clear_cache(model=default_model)
    assert cleared.cleared == default_model
    assert all(t.ok for t in cleared.tiers)
    assert cleared.cache.memory_entries == 0
    assert client.cache_stats().memory_entries == 0

    # Cleared means recomputed.
    assert client.analyze(f"{POSITIVE_TEXT} {unique}")[0].cached is False


def test_clear_whole_cache(client: Client, unique: str) -> None:
    client.analyze(f"{NEGATIVE_TEXT} {unique}")
    cleared = client.clear_cache()
    assert cleared.cleared == "all"
    assert client.cache_stats().entries == 0


def test_cache_hit_counters_move(client: Client, unique: str) -> None:
    before = client.cache_stats()
    text = f"{NEGATIVE_TEXT} {unique}"
    client.analyze(text)
    client.analyze(text)
    after = client.cache_stats()
    assert after.hits >= before.hits + 1
    assert after.misses >= before.misses + 1


# -- errors --------------------------------------------------------------------------


def test_unknown_model_is_model_not_found(client: Client) -> None:
    with pytest.raises(ModelNotFound) as caught:
        client.analyze(POSITIVE_TEXT, model="no-such-model")
    error = caught.value
    assert isinstance(error, NotFound) and isinstance(error, SentiserveError)
    assert error.status == 404
    assert error.type == "model_not_found"
    assert "no-such-model" in error.message


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.load("no-such-model"),
        lambda c: c.unload("no-such-model"),
        lambda c: c.clear_cache(model="no-such-model"),
    ],
    ids=["load", "unload", "clear_cache"],
)
def test_admin_calls_on_unknown_model(client: Client, call: Any) -> None:
    with pytest.raises(ModelNotFound) as caught:
        call(client)
    assert caught.value.status == 404


def test_empty_batch_is_invalid_request(client: Client) -> None:
    with pytest.raises(InvalidRequest) as caught:
        client.analyze([])
    assert caught.value.status == 422
    assert caught.value.type == "invalid_request"
    assert caught.value.message


def test_client_side_type_errors_send_nothing(client: Client) -> None:
    with pytest.raises(TypeError):
        client.analyze([1, 2])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        client.analyze(POSITIVE_TEXT, text_pair=["a"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.analyze(POSITIVE_TEXT, cache="sometimes")


def test_wrong_api_key_is_unauthorized(client_kwargs: Dict[str, Any]) -> None:
    if not client_kwargs["api_key"]:
        pytest.skip("SENTISERVE_API_KEY is not set: the server under test needs no key")
    with Client(client_kwargs["url"], api_key="wrong-key", max_retries=0) as bad:
        with pytest.raises(Unauthorized) as caught:
            bad.analyze(POSITIVE_TEXT)
    assert caught.value.status == 401
    assert caught.value.type == "unauthorized"
    with Client(client_kwargs["url"]) as anonymous:
        with pytest.raises(Unauthorized):
            anonymous.models()


def test_context_manager_closes(client_kwargs: Dict[str, Any]) -> None:
    with Client(**client_kwargs) as c:
        assert c.analyze(POSITIVE_TEXT)[0].label == "POSITIVE"
    with pytest.raises(RuntimeError):
        c.analyze(POSITIVE_TEXT)
