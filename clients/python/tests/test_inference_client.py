"""``huggingface_hub.InferenceClient`` pointed at sentiserve's Inference-API route.

Users of the Hugging Face Inference API switch by changing the model URL:
``InferenceClient(model=f"{url}/hf-inference/models/{name}")``. The client posts
``{"inputs": text, "parameters": {...}}`` (``None`` parameters dropped) and returns the
first list of the answer unchanged, so without ``top_k`` it returns whatever the server
answers: all labels, best first, as the Inference API does.

Needs the ``/hf-inference/models/{name}`` route (a newer server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
from conftest import NEGATIVE_TEXT, POSITIVE_TEXT

huggingface_hub = pytest.importorskip("huggingface_hub")

pytestmark = pytest.mark.server


@pytest.fixture
def hf_client(client_kwargs: Dict[str, Any], default_model: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    # No token or setting of the user's own leaks in (nor goes to the server).
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return huggingface_hub.InferenceClient(
        model=f"{client_kwargs['url']}/hf-inference/models/{default_model}",
        token=client_kwargs["api_key"],
        timeout=120,
    )


def test_top_k_2(hf_client: Any) -> None:
    out = hf_client.text_classification(POSITIVE_TEXT, top_k=2)
    assert len(out) == 2
    assert [o.label for o in out] == ["POSITIVE", "NEGATIVE"]
    assert out[0].score > out[1].score
    assert out[0].score + out[1].score == pytest.approx(1.0, abs=1e-4)
    # Elements are huggingface_hub's dataclasses, which also read like dicts.
    assert isinstance(out[0], huggingface_hub.TextClassificationOutputElement)
    assert out[0]["label"] == "POSITIVE"


def test_top_k_1(hf_client: Any) -> None:
    out = hf_client.text_classification(NEGATIVE_TEXT, top_k=1)
    assert [o.label for o in out] == ["NEGATIVE"]


def test_without_top_k_returns_every_label(hf_client: Any) -> None:
    out = hf_client.text_classification(NEGATIVE_TEXT)
    assert [o.label for o in out] == ["NEGATIVE", "POSITIVE"]
    assert out[0].score > 0.5


def test_function_to_apply_none_gives_logits(hf_client: Any) -> None:
    probs = hf_client.text_classification(POSITIVE_TEXT)
    logits = hf_client.text_classification(POSITIVE_TEXT, function_to_apply="none")
    assert [o.label for o in logits] == [o.label for o in probs]
    assert logits[0].score - logits[1].score > 0
    assert [round(o.score, 4) for o in probs] != [round(o.score, 4) for o in logits]


def test_unknown_model_raises_http_error(client_kwargs: Dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    bad = huggingface_hub.InferenceClient(
        model=f"{client_kwargs['url']}/hf-inference/models/no-such-model", token=client_kwargs["api_key"], timeout=120
    )
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as caught:
        bad.text_classification(POSITIVE_TEXT)
    assert caught.value.response.status_code == 404
