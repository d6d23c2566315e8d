"""Typed views of the task routes' answers: zero-shot classification and re-ranking.

Like :mod:`._types`, each ``from_dict`` tolerates unknown fields (newer servers) and
keeps the decoded JSON in ``raw``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional

from ._types import LabelScore

__all__ = ["ZeroShotResult", "Rank"]


@dataclass(frozen=True)
class ZeroShotResult:
    """One text's zero-shot classification (``POST /zero-shot-classification``).

    The same three fields as transformers' ``pipeline("zero-shot-classification")``.

    Attributes:
        sequence: the text.
        labels: the candidate labels, best first.
        scores: their scores, in the same order: they sum to 1 with
            ``multi_label=False``; each is in (0, 1) on its own with ``multi_label=True``.
    """

    sequence: str
    labels: List[str]
    scores: List[float]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ZeroShotResult":
        labels = [str(label) for label in data.get("labels") or []]
        scores = [float(score) for score in data.get("scores") or []]
        if len(labels) != len(scores):
            raise ValueError(f"a zero-shot result has {len(labels)} labels but {len(scores)} scores")
        return cls(sequence=str(data.get("sequence", "")), labels=labels, scores=scores, raw=dict(data))

    @property
    def label(self) -> str:
        """The best label."""
        return self.labels[0]

    @property
    def score(self) -> float:
        """The best label's score."""
        return self.scores[0]

    def items(self) -> List[LabelScore]:
        """Every label with its score, best first."""
        return [LabelScore(label, score) for label, score in zip(self.labels, self.scores)]

    def score_of(self, label: str) -> Optional[float]:
        """The score of ``label``, or ``None`` when it was not a candidate."""
        for name, score in zip(self.labels, self.scores):
            if name == label:
                return score
        return None

    def to_dict(self) -> Dict[str, Any]:
        """``{"sequence", "labels", "scores"}``, as transformers' pipeline returns it."""
        return {"sequence": self.sequence, "labels": list(self.labels), "scores": list(self.scores)}

    def __iter__(self) -> Iterator[LabelScore]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Rank:
    """One re-ranked text (``POST /rerank``, Hugging Face TEI's shape).

    Attributes:
        index: the text's position in the request's ``texts``.
        score: sigmoid(logit) of the cross-encoder on (query, text), or the logit
            with ``raw_scores=True``.
        text: the text itself, with ``return_text=True``; ``None`` otherwise.
    """

    index: int
    score: float
    text: Optional[str] = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Rank":
        text = data.get("text")
        return cls(index=int(data["index"]), score=float(data["score"]), text=None if text is None else str(text))

    def to_dict(self) -> Dict[str, Any]:
        """``{"index", "score"}`` (and ``"text"`` when present), as TEI answers it."""
        out: Dict[str, Any] = {"index": self.index, "score": self.score}
        if self.text is not None:
            out["text"] = self.text
        return out
