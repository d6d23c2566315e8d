"""Typed views of the server's JSON answers.

Each class has ``from_dict`` that tolerates missing and unknown fields (older or
newer servers), and keeps the decoded JSON in ``raw``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional

__all__ = [
    "LabelScore",
    "Result",
    "AnalyzeResponse",
    "ModelInfo",
    "ModelsResponse",
    "TierStats",
    "CacheStats",
    "TierClear",
    "ClearResponse",
    "Health",
]


def _opt_int(value: Any) -> Optional[int]:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _opt_float(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class LabelScore:
    """One label and its score."""

    label: str
    score: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LabelScore":
        return cls(label=str(data["label"]), score=float(data["score"]))

    def to_dict(self) -> Dict[str, Any]:
        """``{"label", "score"}``, as transformers' pipeline returns it."""
        return {"label": self.label, "score": self.score}


@dataclass(frozen=True)
class Result:
    """The classification of one input.

    Attributes:
        label: best label.
        score: its score.
        scores: every label (or the best ``top_k``), best first.
        cached: whether the server answered from its prediction cache.
        truncated: whether the input was cut to the model's token limit.
    """

    label: str
    score: float
    scores: List[LabelScore]
    cached: bool = False
    truncated: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Result":
        scores = [LabelScore.from_dict(s) for s in data.get("scores") or []]
        return cls(
            label=str(data["label"]),
            score=float(data["score"]),
            scores=scores,
            cached=bool(data.get("cached", False)),
            truncated=bool(data.get("truncated", False)),
        )

    def score_of(self, label: str) -> Optional[float]:
        """The score of ``label``, or ``None`` when it is not in ``scores``."""
        for s in self.scores:
            if s.label == label:
                return s.score
        return None


@dataclass(frozen=True)
class AnalyzeResponse:
    """The answer to :meth:`Client.analyze`: the model that answered and one result per input."""

    model: str
    results: List[Result]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "AnalyzeResponse":
        return cls(
            model=str(data.get("model", "")),
            results=[Result.from_dict(r) for r in data.get("results") or []],
            raw=dict(data),
        )

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[Result]:
        return iter(self.results)

    def __getitem__(self, index: int) -> Result:
        return self.results[index]


@dataclass(frozen=True)
class ModelInfo:
    """One configured model as ``GET /models`` reports it."""

    name: str
    source: str = ""
    default: bool = False
    state: str = "unknown"
    labels: Optional[List[str]] = None
    architecture: Optional[str] = None
    device: Optional[str] = None
    revision: Optional[str] = None
    parameters: Optional[int] = None
    max_tokens: Optional[int] = None
    fingerprint: Optional[str] = None
    load_ms: Optional[float] = None
    loads: int = 0
    error: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def loaded(self) -> bool:
        return self.state == "loaded"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelInfo":
        labels = data.get("labels")
        return cls(
            name=str(data["name"]),
            source=str(data.get("source") or ""),
            default=bool(data.get("default", False)),
            state=str(data.get("state") or "unknown"),
            labels=[str(x) for x in labels] if isinstance(labels, list) else None,
            architecture=data.get("architecture"),
            device=data.get("device"),
            revision=data.get("revision"),
            parameters=_opt_int(data.get("parameters")),
            max_tokens=_opt_int(data.get("max_tokens")),
            fingerprint=data.get("fingerprint"),
            load_ms=_opt_float(data.get("load_ms")),
            loads=_opt_int(data.get("loads")) or 0,
            error=data.get("error"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class ModelsResponse:
    """``GET /models``: the default model's name and every configured model."""

    default: Optional[str]
    models: List[ModelInfo]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelsResponse":
        return cls(
            default=data.get("default"),
            models=[ModelInfo.from_dict(m) for m in data.get("models") or []],
            raw=dict(data),
        )

    @property
    def names(self) -> List[str]:
        return [m.name for m in self.models]

    def get(self, name: str) -> Optional[ModelInfo]:
        for m in self.models:
            if m.name == name:
                return m
        return None

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self.models)


@dataclass(frozen=True)
class TierStats:
    """One cache tier (``memory``, ``disk``, ``redis``)."""

    tier: str
    up: bool = True
    entries: Optional[int] = None
    bytes: Optional[int] = None
    capacity_bytes: Optional[int] = None
    hits: int = 0
    misses: int = 0
    errors: int = 0
    writes: int = 0
    evictions: int = 0
    location: Optional[str] = None
    error: Optional[str] = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TierStats":
        return cls(
            tier=str(data.get("tier", "")),
            up=bool(data.get("up", True)),
            entries=_opt_int(data.get("entries")),
            bytes=_opt_int(data.get("bytes")),
            capacity_bytes=_opt_int(data.get("capacity_bytes")),
            hits=_opt_int(data.get("hits")) or 0,
            misses=_opt_int(data.get("misses")) or 0,
            errors=_opt_int(data.get("errors")) or 0,
            writes=_opt_int(data.get("writes")) or 0,
            evictions=_opt_int(data.get("evictions")) or 0,
            location=data.get("location"),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class CacheStats:
    """``GET /cache``: the prediction cache's totals and per-tier figures."""

    entries: int
    bytes: int
    capacity_bytes: int = 0
    hits: int = 0
    misses: int = 0
    hit_rate: float = 0.0
    evictions: int = 0
    expirations: int = 0
    ttl_secs: Optional[int] = None
    tti_secs: Optional[int] = None
    tiers: List[TierStats] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CacheStats":
        return cls(
            entries=_opt_int(data.get("entries")) or 0,
            bytes=_opt_int(data.get("bytes")) or 0,
            capacity_bytes=_opt_int(data.get("capacity_bytes")) or 0,
            hits=_opt_int(data.get("hits")) or 0,
            misses=_opt_int(data.get("misses")) or 0,
            hit_rate=_opt_float(data.get("hit_rate")) or 0.0,
            evictions=_opt_int(data.get("evictions")) or 0,
            expirations=_opt_int(data.get("expirations")) or 0,
            ttl_secs=_opt_int(data.get("ttl_secs")),
            tti_secs=_opt_int(data.get("tti_secs")),
            tiers=[TierStats.from_dict(t) for t in data.get("tiers") or []],
            raw=dict(data),
        )

    def tier(self, name: str) -> Optional[TierStats]:
        for t in self.tiers:
            if t.tier == name:
                return t
        return None

    @property
    def memory_entries(self) -> int:
        """Entries in the in-memory tier (the totals when the server reports no tiers)."""
        memory = self.tier("memory")
        if memory is None or memory.entries is None:
            return self.entries
        return memory.entries


@dataclass(frozen=True)
class TierClear:
    """What clearing did in one tier."""

    tier: str
    ok: bool
    removed: Optional[int] = None
    error: Optional[str] = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TierClear":
        return cls(
            tier=str(data.get("tier", "")),
            ok=bool(data.get("ok", True)),
            removed=_opt_int(data.get("removed")),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class ClearResponse:
    """``DELETE /cache``: what was cleared (``"all"`` or a model name) and the stats after."""

    cleared: str
    tiers: List[TierClear]
    cache: CacheStats
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ClearResponse":
        return cls(
            cleared=str(data.get("cleared", "")),
            tiers=[TierClear.from_dict(t) for t in data.get("tiers") or []],
            cache=CacheStats.from_dict(data.get("cache") or {}),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Health:
    """``GET /health``: ``status`` is ``ok``, ``loading`` or ``unavailable``."""

    status: str
    models: Dict[str, str]
    http_status: int = 200
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the server is ready for traffic."""
        return self.status == "ok"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], http_status: int = 200) -> "Health":
        models = data.get("models") or {}
        return cls(
            status=str(data.get("status", "")),
            models={str(k): str(v) for k, v in models.items()} if isinstance(models, dict) else {},
            http_status=http_status,
            raw=dict(data),
        )
