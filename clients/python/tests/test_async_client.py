"""The asynchronous client against a real sentiserve (current API)."""

from __future__ import annotations

from typing import Any, AsyncIterator, Dict

import anyio
import pytest
from conftest import NEGATIVE_TEXT, POSITIVE_TEXT

from sentiserve_client import AsyncClient, InvalidRequest, ModelNotFound

pytestmark = [pytest.mark.server, pytest.mark.anyio]


@pytest.fixture
async def aclient(client_kwargs: Dict[str, Any]) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(**client_kwargs) as c:
        yield c


async def test_health(aclient: AsyncClient) -> None:
    assert (await aclient.health()).ok


async def test_analyze_one_and_batch(aclient: AsyncClient, default_model: str) -> None:
    one = await aclient.analyze(POSITIVE_TEXT)
    assert one.model == default_model
    assert one[0].label == "POSITIVE"
    batch = await aclient.analyze([POSITIVE_TEXT, NEGATIVE_TEXT])
    assert [r.label for r in batch] == ["POSITIVE", "NEGATIVE"]
    assert {s.label for s in batch[1].scores} == {"POSITIVE", "NEGATIVE"}


async def test_concurrent_requests(aclient: AsyncClient) -> None:
    labels: Dict[int, str] = {}

    async def one(i: int) -> None:
        text = POSITIVE_TEXT if i % 2 == 0 else NEGATIVE_TEXT
        labels[i] = (await aclient.analyze(text))[0].label

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(one, i)
    assert [labels[i] for i in range(8)] == ["POSITIVE", "NEGATIVE"] * 4


async def test_repeat_is_cached(aclient: AsyncClient, unique: str) -> None:
    text = f"{NEGATIVE_TEXT} [{unique}]"
    assert (await aclient.analyze(text))[0].cached is False
    assert (await aclient.analyze(text))[0].cached is True


async def test_pipeline_shapes(aclient: AsyncClient) -> None:
    single = await aclient.predict_pipeline(POSITIVE_TEXT)
    assert len(single) == 1 and single[0]["label"] == "POSITIVE"
    assert set(single[0]) == {"label", "score"}

    listed = await aclient.predict_pipeline([POSITIVE_TEXT, NEGATIVE_TEXT])
    assert [d["label"] for d in listed] == ["POSITIVE", "NEGATIVE"]  # type: ignore[index]

    every = await aclient.predict_pipeline(POSITIVE_TEXT, top_k=None)
    assert [d["label"] for d in every] == ["POSITIVE", "NEGATIVE"]  # type: ignore[index]

    nested = await aclient.predict_pipeline([NEGATIVE_TEXT], top_k=None)
    assert isinstance(nested[0], list) and nested[0][0]["label"] == "NEGATIVE"


async def test_models_load_unload(aclient: AsyncClient, default_model: str) -> None:
    models = await aclient.models()
    assert models.default == default_model
    try:
        assert (await aclient.unload(default_model)).state == "unloaded"
        assert (await aclient.load(default_model)).state == "loaded"
    finally:
        await aclient.load(default_model)


async def test_cache_stats_and_clear(aclient: AsyncClient, default_model: str, unique: str) -> None:
    await aclient.analyze(f"{POSITIVE_TEXT} <{unique}>")
    assert (await aclient.cache_stats()).memory_entries >= 1
    cleared = await aclient.clear_cache(default_model)
    assert cleared.cleared == default_model
    assert (await aclient.cache_stats()).memory_entries == 0
    assert (await aclient.clear_cache()).cleared == "all"


async def test_errors(aclient: AsyncClient) -> None:
    with pytest.raises(ModelNotFound) as caught:
        await aclient.analyze(POSITIVE_TEXT, model="no-such-model")
    assert (caught.value.status, caught.value.type) == (404, "model_not_found")
    with pytest.raises(InvalidRequest) as invalid:
        await aclient.analyze([])
    assert invalid.value.status == 422
