"""Retries, error mapping and request shapes, against a scripted local HTTP server.

No sentiserve needed. Every scripted ``Retry-After`` is 0, so no test waits.
"""

from __future__ import annotations

import socket
import time
from email.utils import formatdate
from typing import Any, Callable

import httpx
import pytest
from conftest import FakeServer, Recorded, analysis, error_body

from sentiserve_client import (
    DEFAULT,
    AsyncClient,
    Client,
    ConnectionFailed,
    InputTooLong,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    PayloadTooLarge,
    SentiserveError,
    ServerError,
    Unauthorized,
    Unavailable,
)
from sentiserve_client._core import parse_retry_after, pipeline_output
from sentiserve_client._types import AnalyzeResponse

Start = Callable[..., FakeServer]

OVERLOADED = (429, {"Retry-After": "0"}, error_body("overloaded", "queue full"))
UNAVAILABLE = (503, {"Retry-After": "0"}, error_body("model_unavailable", "loading failed"))
OK = (200, {}, analysis("POSITIVE"))


# -- retries -----------------------------------------------------------------------


def test_429_is_retried_until_success(fake_server: Start) -> None:
    fake = fake_server(OVERLOADED, OVERLOADED, OK)
    with Client(fake.url, max_retries=3) as client:
        response = client.analyze("I love this movie!")
    assert len(fake.requests) == 3
    assert response.model == "fake"
    assert response[0].label == "POSITIVE"
    assert response[0].score == pytest.approx(0.9)
    # Every attempt sent the same request.
    assert {r.path for r in fake.requests} == {"/analyze"}
    assert all(r.body == {"text": "I love this movie!"} for r in fake.requests)


def test_503_is_retried(fake_server: Start) -> None:
    fake = fake_server(UNAVAILABLE, OK)
    with Client(fake.url) as client:
        assert client.analyze("x")[0].label == "POSITIVE"
    assert len(fake.requests) == 2


def test_retries_are_bounded_by_max_retries(fake_server: Start) -> None:
    fake = fake_server(OVERLOADED)
    with Client(fake.url, max_retries=2) as client:
        with pytest.raises(Overloaded) as caught:
            client.analyze("x")
    assert len(fake.requests) == 3  # the first try and 2 retries
    assert caught.value.status == 429
    assert caught.value.type == "overloaded"
    assert caught.value.retry_after == 0


def test_max_retries_zero_never_retries(fake_server: Start) -> None:
    fake = fake_server(UNAVAILABLE, OK)
    with Client(fake.url, max_retries=0) as client:
        with pytest.raises(Unavailable) as caught:
            client.analyze("x")
    assert len(fake.requests) == 1
    assert caught.value.status == 503


@pytest.mark.parametrize(
    "reply, error",
    [
        ((400, {}, error_body("invalid_json")), InvalidRequest),
        ((401, {}, error_body("unauthorized")), Unauthorized),
        ((404, {}, error_body("model_not_found")), ModelNotFound),
        ((413, {}, error_body("input_too_long")), InputTooLong),
        ((413, {}, error_body("batch_too_large")), PayloadTooLarge),
        ((415, {}, error_body("unsupported_media_type")), InvalidRequest),
        ((422, {}, error_body("invalid_request")), InvalidRequest),
        ((500, {}, error_body("inference_error")), ServerError),
        ((502, {}, "Bad Gateway"), ServerError),
    ],
    ids=["400", "401", "404", "413-input", "413-batch", "415", "422", "500", "502-text"],
)
def test_other_statuses_are_not_retried(fake_server: Start, reply: Any, error: type) -> None:
    fake = fake_server(reply, OK)
    with Client(fake.url, max_retries=3) as client:
        with pytest.raises(error) as caught:
            client.analyze("x")
    assert len(fake.requests) == 1
    assert caught.value.status == reply[0]
    if isinstance(reply[2], dict):
        assert caught.value.type == reply[2]["error"]["type"]
        assert caught.value.message == "scripted"
    else:
        assert caught.value.message == "Bad Gateway"


def test_400_is_not_retried(fake_server: Start) -> None:
    fake = fake_server((400, {"Retry-After": "0"}, error_body("invalid_json", "bad json")), OK)
    with Client(fake.url) as client:
        with pytest.raises(InvalidRequest) as caught:
            client.analyze("x")
    assert len(fake.requests) == 1
    assert (caught.value.status, caught.value.type, caught.value.message) == (400, "invalid_json", "bad json")


def test_unknown_error_type_falls_back_to_status(fake_server: Start) -> None:
    fake = fake_server((429, {"Retry-After": "0"}, error_body("something_new")))
    with Client(fake.url, max_retries=1) as client:
        with pytest.raises(Overloaded) as caught:
            client.models()
    assert caught.value.type == "something_new"
    assert len(fake.requests) == 2


def test_request_id_is_kept(fake_server: Start) -> None:
    fake = fake_server((404, {"x-request-id": "abc-123"}, error_body("model_not_found")))
    with Client(fake.url) as client:
        with pytest.raises(ModelNotFound) as caught:
            client.load("nope")
    assert caught.value.request_id == "abc-123"
    assert fake.requests[0].path == "/models/nope/load"


def test_retry_delay_honours_retry_after_then_backs_off() -> None:
    client = Client("http://127.0.0.1:9", backoff_factor=0.5, max_backoff=5.0)

    def delay(headers: dict, attempt: int) -> float:
        return client._retry_delay(httpx.Response(429, headers=headers), attempt)

    assert [delay({}, n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert delay({"Retry-After": "3"}, 0) == 3.0
    assert delay({"Retry-After": "0"}, 4) == 0.0
    assert delay({"Retry-After": "120"}, 0) == 5.0  # capped
    assert delay({"Retry-After": "soon"}, 1) == 1.0  # unparseable: backoff
    client.close()


def test_parse_retry_after_http_date() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
    later = parse_retry_after(formatdate(time.time() + 30, usegmt=True))
    assert later is not None and 25 <= later <= 31


def test_connection_refused_is_connection_failed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", max_retries=3) as client:
        with pytest.raises(ConnectionFailed) as caught:
            client.health()
    assert caught.value.status is None
    assert isinstance(caught.value, SentiserveError)


# -- the async client ----------------------------------------------------------------


@pytest.mark.anyio
async def test_async_429_is_retried_until_success(fake_server: Start) -> None:
    fake = fake_server(OVERLOADED, OVERLOADED, OK)
    async with AsyncClient(fake.url) as client:
        response = await client.analyze("I love this movie!")
    assert len(fake.requests) == 3
    assert response[0].label == "POSITIVE"


@pytest.mark.anyio
async def test_async_400_is_not_retried(fake_server: Start) -> None:
    fake = fake_server((400, {}, error_body("invalid_json")), OK)
    async with AsyncClient(fake.url) as client:
        with pytest.raises(InvalidRequest):
            await client.analyze("x")
    assert len(fake.requests) == 1


@pytest.mark.anyio
async def test_async_retries_are_bounded(fake_server: Start) -> None:
    fake = fake_server(UNAVAILABLE)
    async with AsyncClient(fake.url, max_retries=1) as client:
        with pytest.raises(Unavailable):
            await client.load("m")
    assert len(fake.requests) == 2


# -- what goes on the wire -------------------------------------------------------------


def test_default_request_sends_no_optional_fields(fake_server: Start) -> None:
    fake = fake_server(OK)
    with Client(fake.url) as client:
        client.analyze("hello")
    request = fake.requests[0]
    assert (request.method, request.path, request.body) == ("POST", "/analyze", {"text": "hello"})
    assert "authorization" not in request.headers
    assert "cache-control" not in request.headers
    assert request.headers["content-type"] == "application/json"


def test_every_analyze_option_is_sent(fake_server: Start) -> None:
    fake = fake_server((200, {}, analysis("POSITIVE", "NEGATIVE")))
    with Client(fake.url, api_key="k1") as client:
        client.analyze(
            ["a", "b"],
            model="m",
            top_k=1,
            function_to_apply="sigmoid",
            truncate=False,
            text_pair=["pa", None],
            cache="no-cache",
        )
    request = fake.requests[0]
    assert request.body == {
        "texts": [{"text": "a", "text_pair": "pa"}, "b"],
        "model": "m",
        "top_k": 1,
        "function_to_apply": "sigmoid",
        "truncate": False,
    }
    assert request.headers["authorization"] == "Bearer k1"
    assert request.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "inputs, kwargs, body",
    [
        ("a", {"text_pair": "b"}, {"text": "a", "text_pair": "b"}),
        ({"text": "a", "text_pair": "b"}, {}, {"text": "a", "text_pair": "b"}),
        ([("a", "b"), "c"], {}, {"texts": [{"text": "a", "text_pair": "b"}, "c"]}),
        ([{"text": "a"}, {"text": "c", "text_pair": "d"}], {}, {"texts": [{"text": "a"}, {"text": "c", "text_pair": "d"}]}),
        (("x", "y"), {}, {"texts": ["x", "y"]}),  # a tuple at the top is a batch
    ],
)
def test_text_pair_shapes(fake_server: Start, inputs: Any, kwargs: Any, body: Any) -> None:
    fake = fake_server((200, {}, analysis("POSITIVE", "POSITIVE")))
    with Client(fake.url) as client:
        client.analyze(inputs, **kwargs)
    assert fake.requests[0].body == body


@pytest.mark.parametrize("cache, header", [(False, "no-store"), ("no-store", "no-store"), ("no-cache", "no-cache"), (True, None)])
def test_cache_header(fake_server: Start, cache: Any, header: Any) -> None:
    fake = fake_server(OK)
    with Client(fake.url) as client:
        client.analyze("a", cache=cache)
    assert fake.requests[0].headers.get("cache-control") == header


def test_admin_routes_and_admin_key(fake_server: Start) -> None:
    model = {"name": "my model", "state": "loaded", "labels": ["A"], "default": False}
    stats = {"entries": 0, "bytes": 0, "tiers": [{"tier": "memory", "entries": 0}]}
    fake = fake_server(
        (200, {}, model),
        (200, {}, dict(model, state="unloaded")),
        (200, {}, {"cleared": "my model", "tiers": [{"tier": "memory", "ok": True}], "cache": stats}),
        (200, {}, {"cleared": "all", "tiers": [], "cache": stats}),
        (200, {}, stats),
        (200, {}, {"default": "my model", "models": [model]}),
    )
    with Client(fake.url, api_key="user", admin_key="admin") as client:
        assert client.load("my model").state == "loaded"
        assert client.unload("my model").state == "unloaded"
        assert client.clear_cache("my model").cleared == "my model"
        assert client.clear_cache().cleared == "all"
        assert client.cache_stats().memory_entries == 0
        assert client.models().names == ["my model"]
    seen = [(r.method, r.path, r.headers["authorization"]) for r in fake.requests]
    assert seen == [
        ("POST", "/models/my%20model/load", "Bearer admin"),
        ("DELETE", "/models/my%20model", "Bearer admin"),
        ("DELETE", "/cache?model=my+model", "Bearer admin"),
        ("DELETE", "/cache", "Bearer admin"),
        ("GET", "/cache", "Bearer user"),
        ("GET", "/models", "Bearer user"),
    ]


def test_health_503_is_an_answer_not_an_error(fake_server: Start) -> None:
    fake = fake_server((503, {"Retry-After": "0"}, {"status": "loading", "models": {"m": "loading"}}))
    with Client(fake.url) as client:
        health = client.health()
    assert len(fake.requests) == 1
    assert (health.ok, health.status, health.http_status, health.models) == (False, "loading", 503, {"m": "loading"})


def test_base_url_with_a_path_prefix(fake_server: Start) -> None:
    fake = fake_server(OK)
    with Client(fake.url + "/sentiserve/") as client:
        client.analyze("a")
    assert fake.requests[0].path == "/sentiserve/analyze"


def test_newer_server_fields_are_tolerated(fake_server: Start) -> None:
    body = analysis("NEGATIVE")
    body["results"][0].update(truncated=True, tokens=7)
    body["elapsed_ms"] = 3
    fake = fake_server((200, {}, body))
    with Client(fake.url) as client:
        response = client.analyze("a")
    assert response[0].truncated is True
    assert response.raw["elapsed_ms"] == 3


def test_non_json_success_is_an_error(fake_server: Start) -> None:
    fake = fake_server((200, {}, "<html>proxy page</html>"))
    with Client(fake.url) as client:
        with pytest.raises(SentiserveError) as caught:
            client.models()
    assert caught.value.type == "invalid_response"


# -- transformers pipeline shapes (server-side top_k) ------------------------------------


def _topk_server(request: Recorded) -> Any:
    """Answers like a sentiserve that honours ``top_k``, one result per input."""
    body = request.body
    texts = [body["text"]] if "text" in body else body["texts"]
    reply = analysis(*["POSITIVE" if "love" in t else "NEGATIVE" for t in texts])
    for result in reply["results"]:
        result["scores"] = result["scores"][: body.get("top_k") or None]
    return 200, {}, reply


@pytest.mark.parametrize(
    "inputs, top_k, expected",
    [
        ("love", DEFAULT, [{"label": "POSITIVE", "score": 0.9}]),
        (["love", "hate"], DEFAULT, [{"label": "POSITIVE", "score": 0.9}, {"label": "NEGATIVE", "score": 0.9}]),
        ("love", 1, [{"label": "POSITIVE", "score": 0.9}]),
        ("love", 2, [{"label": "POSITIVE", "score": 0.9}, {"label": "NEGATIVE", "score": 0.1}]),
        ("love", None, [{"label": "POSITIVE", "score": 0.9}, {"label": "NEGATIVE", "score": 0.1}]),
        (["love", "hate"], 1, [[{"label": "POSITIVE", "score": 0.9}], [{"label": "NEGATIVE", "score": 0.9}]]),
        (
            ["hate"],
            None,
            [[{"label": "NEGATIVE", "score": 0.9}, {"label": "POSITIVE", "score": 0.1}]],
        ),
    ],
)
def test_pipeline_shapes(fake_server: Start, inputs: Any, top_k: Any, expected: Any) -> None:
    fake = fake_server(_topk_server)
    with Client(fake.url) as client:
        kwargs = {} if top_k is DEFAULT else {"top_k": top_k}
        assert client.predict_pipeline(inputs, **kwargs) == expected
    sent = fake.requests[0].body
    # top_k goes to the server when it is a number, and only then.
    assert sent.get("top_k") == (top_k if isinstance(top_k, int) else None)


def test_pipeline_output_slices_if_the_server_did_not() -> None:
    response = AnalyzeResponse.from_dict(analysis("POSITIVE"))
    assert pipeline_output(response, True, 1) == [{"label": "POSITIVE", "score": 0.9}]
    assert pipeline_output(response, False, 1) == [[{"label": "POSITIVE", "score": 0.9}]]
