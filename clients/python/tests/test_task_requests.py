"""``zero_shot`` and ``rerank`` request shapes, answers and errors in both body shapes
(sentiserve's ``{"error": {"type", "message"}}`` and TEI's ``{"error", "error_type"}``),
against a scripted local HTTP server. No sentiserve needed; every ``Retry-After`` is 0.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Type

import pytest
from conftest import FakeServer, error_body

from sentiserve_client import (
    AsyncClient,
    Client,
    IncompatibleModel,
    InputTooLong,
    InvalidRequest,
    ModelNotFound,
    NotAReranker,
    NotNli,
    Overloaded,
    PayloadTooLarge,
    Rank,
    SentiserveError,
    ServerError,
    Unauthorized,
    Unavailable,
    ZeroShotResult,
)
from sentiserve_client._errors import error_from_response, parse_error_body

Start = Callable[..., FakeServer]

ZERO_SHOT = {"sequence": "s", "labels": ["b", "a"], "scores": [0.75, 0.25]}
RANKS = [{"index": 1, "score": 0.9, "text": "y"}, {"index": 0, "score": 0.1, "text": "x"}]


def tei(status: int, error_type: str, message: str = "scripted") -> Any:
    return (status, {"Retry-After": "0"} if status in (429, 503) else {}, {"error": message, "error_type": error_type})


# -- requests and answers ----------------------------------------------------------------


def test_zero_shot_single_sends_only_what_is_given(fake_server: Start) -> None:
    fake = fake_server((200, {}, ZERO_SHOT))
    with Client(fake.url) as client:
        result = client.zero_shot("s", ["a", "b"])
    assert (fake.requests[0].method, fake.requests[0].path) == ("POST", "/zero-shot-classification")
    assert fake.requests[0].body == {"text": "s", "candidate_labels": ["a", "b"]}
    assert isinstance(result, ZeroShotResult)
    assert (result.label, result.score, result.labels, result.scores) == ("b", 0.75, ["b", "a"], [0.75, 0.25])
    assert result.score_of("a") == 0.25 and result.score_of("c") is None
    assert [(s.label, s.score) for s in result] == [("b", 0.75), ("a", 0.25)]
    assert result.to_dict() == ZERO_SHOT


def test_zero_shot_batch_and_every_option(fake_server: Start) -> None:
    fake = fake_server((200, {}, [ZERO_SHOT, dict(ZERO_SHOT, sequence="t")]))
    with Client(fake.url) as client:
        results = client.zero_shot(
            ["s", "t"], "a, b", hypothesis_template="About {}.", multi_label=True, model="nli", truncate=False, cache="no-cache"
        )
    assert [r.sequence for r in results] == ["s", "t"]
    request = fake.requests[0]
    assert request.body == {
        "texts": ["s", "t"],
        "candidate_labels": "a, b",
        "hypothesis_template": "About {}.",
        "multi_label": True,
        "model": "nli",
        "truncate": False,
    }
    assert request.headers["cache-control"] == "no-cache"


def test_rerank_request_and_answer(fake_server: Start) -> None:
    fake = fake_server((200, {}, RANKS), (200, {}, [{"index": 0, "score": 0.5}]))
    with Client(fake.url) as client:
        ranks = client.rerank(
            "q", ["x", "y"], model="my reranker", raw_scores=True, return_text=True, truncate=True, truncation_direction="Right"
        )
        plain = client.rerank("q", ["x"])
    assert fake.requests[0].path == "/rerank?model=my+reranker"
    assert fake.requests[0].body == {
        "query": "q",
        "texts": ["x", "y"],
        "raw_scores": True,
        "return_text": True,
        "truncate": True,
        "truncation_direction": "Right",
    }
    assert ranks == [Rank(1, 0.9, "y"), Rank(0, 0.1, "x")]
    assert [r.to_dict() for r in ranks] == RANKS
    assert (fake.requests[1].path, fake.requests[1].body) == ("/rerank", {"query": "q", "texts": ["x"]})
    assert plain == [Rank(0, 0.5)] and plain[0].text is None


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.rerank("q", "one text, not a list"),
        lambda c: c.rerank("q", [b"bytes"]),
        lambda c: c.rerank(None, ["a"]),
        lambda c: c.zero_shot(b"bytes", ["a"]),
        lambda c: c.zero_shot(["a", 1], ["a"]),
        lambda c: c.zero_shot("a", ["x", None]),
    ],
)
def test_wrong_types_fail_before_sending(fake_server: Start, call: Callable[[Client], Any]) -> None:
    fake = fake_server((200, {}, []))
    with Client(fake.url) as client, pytest.raises(TypeError):
        call(client)
    assert fake.requests == []


# -- errors in both shapes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply, error, type_",
    [
        # TEI's shape, as /rerank answers it on newer servers.
        (tei(424, "Backend", "model `m` is not a re-ranker: it has 2 labels"), NotAReranker, "Backend"),
        (tei(404, "Validation", "unknown model `m`"), ModelNotFound, "Validation"),
        (tei(400, "Empty"), InvalidRequest, "Empty"),
        (tei(422, "Tokenizer"), InvalidRequest, "Tokenizer"),
        (tei(413, "Validation"), PayloadTooLarge, "Validation"),
        (tei(401, "Validation"), Unauthorized, "Validation"),
        (tei(500, "Backend"), ServerError, "Backend"),
        (tei(503, "Unhealthy"), Unavailable, "Unhealthy"),
        # sentiserve's shape, as older servers answer /rerank.
        ((409, {}, error_body("not_a_reranker", "2 labels")), NotAReranker, "not_a_reranker"),
        ((413, {}, error_body("input_too_long")), InputTooLong, "input_too_long"),
    ],
)
def test_rerank_errors(fake_server: Start, reply: Any, error: Type[SentiserveError], type_: str) -> None:
    fake = fake_server(reply)
    with Client(fake.url, max_retries=0) as client, pytest.raises(error) as caught:
        client.rerank("q", ["a"])
    assert type(caught.value) is error
    assert (caught.value.status, caught.value.type) == (reply[0], type_)
    detail = reply[2]["error"]
    assert caught.value.message == (detail if isinstance(detail, str) else detail["message"])


def test_zero_shot_not_nli(fake_server: Start) -> None:
    fake = fake_server((409, {}, error_body("not_nli", "no entail label")))
    with Client(fake.url) as client, pytest.raises(NotNli) as caught:
        client.zero_shot("t", ["a"])
    assert isinstance(caught.value, IncompatibleModel)
    assert (caught.value.status, caught.value.type, caught.value.message) == (409, "not_nli", "no entail label")


def test_tei_overloaded_is_retried(fake_server: Start) -> None:
    fake = fake_server(tei(429, "Overloaded"), (200, {}, RANKS))
    with Client(fake.url, max_retries=1) as client:
        assert [r.index for r in client.rerank("q", ["x", "y"])] == [1, 0]
    assert len(fake.requests) == 2
    fake = fake_server(tei(429, "Overloaded", "queue full"))
    with Client(fake.url, max_retries=0) as client, pytest.raises(Overloaded) as caught:
        client.rerank("q", ["x"])
    assert (caught.value.type, caught.value.message, caught.value.retry_after) == ("Overloaded", "queue full", 0.0)


def test_tei_shape_on_other_routes_is_chosen_by_status_then_error_type() -> None:
    def build(status: int, body: Dict[str, Any]) -> SentiserveError:
        return error_from_response(status, body, {"x-request-id": "r1"}, None)

    assert type(build(409, {"error": "m", "error_type": "Validation"})) is IncompatibleModel
    assert type(build(404, {"error": "m", "error_type": "Validation"})) is not ModelNotFound  # no route hint
    assert type(build(424, {"error": "m", "error_type": "Backend"})) is ServerError
    assert type(build(418, {"error": "m", "error_type": "Overloaded"})) is Overloaded
    assert type(build(418, {"error": "m"})) is SentiserveError
    error = build(422, {"error": "bad", "error_type": "Validation"})
    assert (type(error), error.type, error.message, error.request_id) == (InvalidRequest, "Validation", "bad", "r1")


def test_parse_error_body_reads_both_shapes() -> None:
    assert parse_error_body({"error": {"type": "not_nli", "message": "m"}}) == ("not_nli", "m", None)
    assert parse_error_body({"error": "m", "error_type": "Empty"}) == (None, "m", "Empty")
    assert parse_error_body({"error": "m"}) == (None, "m", None)
    assert parse_error_body({"error": 3}) == (None, None, None)
    assert parse_error_body("plain text") == (None, None, None)


@pytest.mark.anyio
async def test_async_requests_and_errors(fake_server: Start) -> None:
    fake = fake_server((200, {}, ZERO_SHOT), (200, {}, RANKS), tei(424, "Backend", "not a re-ranker"))
    async with AsyncClient(fake.url) as client:
        result = await client.zero_shot("s", ["a", "b"], model="nli")
        ranks = await client.rerank("q", ["x", "y"], model="r")
        with pytest.raises(NotAReranker) as caught:
            await client.rerank("q", ["x"], model="m")
    assert isinstance(result, ZeroShotResult) and result.label == "b"
    assert [r.index for r in ranks] == [1, 0]
    assert (caught.value.status, caught.value.type, caught.value.message) == (424, "Backend", "not a re-ranker")
    assert [r.path for r in fake.requests] == ["/zero-shot-classification", "/rerank?model=r", "/rerank?model=m"]
