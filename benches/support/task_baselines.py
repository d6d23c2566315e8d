"""Baselines for the task part of `make bench` (benches/support/tasks.rs): PyTorch on CPU
doing what sentiserve's task routes do, on the same inputs and thread count.

- zero-shot: transformers' `pipeline("zero-shot-classification")` on an NLI model, one
  call per text (all of its (text, hypothesis) pairs in one forward pass), then the
  whole list at once with `batch_size` 32 pairs (the pipeline's best throughput);
- rerank: a cross-encoder as users write it by hand: `AutoModelForSequenceClassification`
  on the (query, text) pairs of one query, padded into one batch, sigmoid of the single
  logit, sorted best first (TEI's `/rerank` answer).

The models `make bench` passes are the tiny random-weight fixtures
(`../shared/fixtures/tiny/deberta-v2`, `../shared/fixtures/tiny/bert-reranker`): the
numbers measure per-request overhead and speed, not quality.

Usage: python task_baselines.py WORKLOAD.json --nli DIR --reranker DIR [--threads 2]
WORKLOAD.json: {"zero_shot": {"texts": [...], "candidate_labels": [...],
"hypothesis_template": "This example is {}."}, "rerank": [{"query": "...", "texts": [...]}, ...]}
Prints one JSON line per variant: texts/s (zero-shot) or queries/s (rerank), pairs/s
and the p50 of one call in ms.
Needs: pip install torch transformers (see ../shared/bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Callable, Dict, List, Tuple

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline


def timed(calls: List[Callable[[], Any]]) -> Dict[str, float]:
    """Runs every call once, in order: wall seconds and the p50 of one call in ms."""
    latencies = []
    started = time.perf_counter()
    for call in calls:
        one = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - one) * 1e3)
    return {"wall": time.perf_counter() - started, "p50_ms": statistics.median(latencies)}


def report(**row: Any) -> None:
    print(json.dumps({"torch": torch.__version__, **row}), flush=True)


def load(model_dir: str) -> Tuple[Any, Any]:
    """Tokenizer and model. Inputs are cut at the model's position limit, as sentiserve
    cuts them (the fixtures ship no tokenizer_config.json, so transformers would not)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer.model_max_length = min(tokenizer.model_max_length, model.config.max_position_embeddings)
    return tokenizer, model


def zero_shot(model_dir: str, work: Dict[str, Any], threads: int) -> None:
    tokenizer, model = load(model_dir)
    classifier = pipeline("zero-shot-classification", model=model, tokenizer=tokenizer, device=-1)
    texts, labels, template = work["texts"], work["candidate_labels"], work["hypothesis_template"]
    per_text = len(labels)
    classifier(texts[:4], labels, hypothesis_template=template, batch_size=per_text)  # warm-up
    one_by_one = timed(
        [lambda t=t: classifier(t, labels, hypothesis_template=template, batch_size=per_text) for t in texts]
    )
    whole = timed([lambda: classifier(texts, labels, hypothesis_template=template, batch_size=32)])
    for batch, run in ((f"1 text ({per_text} pairs)", one_by_one), ("all texts, 32 pairs", whole)):
        report(
            system="transformers-zero-shot-pipeline",
            task="zero-shot",
            threads=threads,
            batch=batch,
            texts=len(texts),
            labels=per_text,
            per_s=round(len(texts) / run["wall"], 1),
            pairs_per_s=round(len(texts) * per_text / run["wall"], 1),
            p50_ms=round(run["p50_ms"], 2),
        )


def rerank(model_dir: str, work: List[Dict[str, Any]], threads: int) -> None:
    tokenizer, model = load(model_dir)

    def rank(query: str, texts: List[str]) -> List[Dict[str, Any]]:
        encoded = tokenizer([query] * len(texts), texts, padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            scores = torch.sigmoid(model(**encoded).logits[:, 0]).tolist()
        return sorted(({"index": i, "score": s} for i, s in enumerate(scores)), key=lambda r: -r["score"])

    rank(work[0]["query"], work[0]["texts"])  # warm-up
    run = timed([lambda q=q: rank(q["query"], q["texts"]) for q in work])
    pairs = sum(len(q["texts"]) for q in work)
    report(
        system="pytorch-cross-encoder",
        task="rerank",
        threads=threads,
        batch=f"1 query ({len(work[0]['texts'])} pairs)",
        queries=len(work),
        per_s=round(len(work) / run["wall"], 1),
        pairs_per_s=round(pairs / run["wall"], 1),
        p50_ms=round(run["p50_ms"], 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload")
    parser.add_argument("--nli", required=True, help="an NLI model directory (entailment label)")
    parser.add_argument("--reranker", required=True, help="a one-label cross-encoder directory")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.workload, encoding="utf-8") as f:
        work = json.load(f)
    zero_shot(args.nli, work["zero_shot"], args.threads)
    rerank(args.reranker, work["rerank"], args.threads)


if __name__ == "__main__":
    main()
