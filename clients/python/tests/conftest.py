"""Shared fixtures.

Tests marked ``server`` talk to a real sentiserve at ``$SENTISERVE_URL`` (whose
default model is the MiniLM SST-2 sentiment model) and are skipped when it is unset;
``$SENTISERVE_API_KEY`` (and ``$SENTISERVE_ADMIN_KEY``) are sent when set. The rest
use a scripted stdlib HTTP server on 127.0.0.1 and need nothing.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import pytest

from sentiserve_client import Client

POSITIVE_TEXT = "I love this movie!"
NEGATIVE_TEXT = "Worst purchase ever."
#: Requests can be slow while a build shares the CPU; this bounds a hang, nothing more.
TIMEOUT = 120.0


def server_settings() -> Tuple[Optional[str], Optional[str], Optional[str]]:
    return (
        os.environ.get("SENTISERVE_URL") or None,
        os.environ.get("SENTISERVE_API_KEY") or None,
        os.environ.get("SENTISERVE_ADMIN_KEY") or None,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    if server_settings()[0]:
        return
    skip = pytest.mark.skip(reason="SENTISERVE_URL is not set (no sentiserve to test against)")
    for item in items:
        if "server" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def server_url() -> str:
    url = server_settings()[0]
    if not url:
        pytest.skip("SENTISERVE_URL is not set")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def client_kwargs(server_url: str) -> Dict[str, Any]:
    _, api_key, admin_key = server_settings()
    return {"url": server_url, "api_key": api_key, "admin_key": admin_key, "timeout": TIMEOUT}


@pytest.fixture
def client(client_kwargs: Dict[str, Any]) -> Iterator[Client]:
    with Client(**client_kwargs) as c:
        yield c


@pytest.fixture(scope="session")
def default_model(client_kwargs: Dict[str, Any]) -> str:
    with Client(**client_kwargs) as c:
        default = c.models().default
    assert default, "the server under test must have a default model"
    return default


@pytest.fixture
def unique() -> str:
    """A suffix that makes a text new to the server's cache on every run."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- a scripted HTTP server ------------------------------------------------------

Reply = Tuple[int, Dict[str, str], Union[bytes, str, Any]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]
    body: Any


@dataclass
class FakeServer:
    """Answers each request with the next scripted reply (the last one repeats).

    A reply is ``(status, headers, body)``; a dict/list body is sent as JSON, or it is
    a callable taking the :class:`Recorded` request and returning a reply.
    """

    replies: List[Union[Reply, Callable[[Recorded], Reply]]]
    requests: List[Recorded] = field(default_factory=list)
    url: str = ""

    def reply_for(self, request: Recorded) -> Reply:
        self.requests.append(request)
        script = self.replies[min(len(self.requests), len(self.replies)) - 1]
        return script(request) if callable(script) else script


def _handler(fake: FakeServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            request = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            status, headers, payload = fake.reply_for(request)
            if isinstance(payload, bytes):
                data, ctype = payload, "application/octet-stream"
            elif isinstance(payload, str):
                data, ctype = payload.encode(), "text/plain; charset=utf-8"
            else:
                data, ctype = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", headers.get("Content-Type", ctype))
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                if key != "Content-Type":
                    self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeServer]]:
    """``fake_server(reply, reply, ...)`` starts a scripted server on 127.0.0.1 (port 0)."""
    started: List[ThreadingHTTPServer] = []

    def start(*replies: Union[Reply, Callable[[Recorded], Reply]]) -> FakeServer:
        fake = FakeServer(list(replies))
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        started.append(httpd)
        fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        return fake

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def error_body(type_: str, message: str = "scripted") -> Dict[str, Any]:
    return {"error": {"type": type_, "message": message}}


def analysis(*labels: str, model: str = "fake") -> Dict[str, Any]:
    """A ``POST /analyze`` answer with one result per label (two-label model)."""
    results = []
    for label in labels:
        other = "NEGATIVE" if label == "POSITIVE" else "POSITIVE"
        results.append(
            {
                "label": label,
                "score": 0.9,
                "scores": [{"label": label, "score": 0.9}, {"label": other, "score": 0.1}],
                "cached": False,
            }
        )
    return {"model": model, "results": results}
