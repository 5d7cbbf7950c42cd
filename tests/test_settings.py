"""Settings (rag/settings.py): a setting's CLI flag and its environment variable both come from its field."""

from __future__ import annotations

import pytest

from rag.apps.cli import _settings, build_parser
from rag.errors import SettingsError
from rag.settings import Settings, cli_fields

# A valid value other than the default for each kind of setting that is a flag.
VALUES = {"index_dir": "elsewhere", "embedder": "/models/mine", "milvus_uri": "http://127.0.0.1:19530",
          "milvus_collection": "news", "reranker": "/models/ce", "reader_model": "/models/reader.json",
          "llm_model": "/models/x.gguf", "llm_url": "http://127.0.0.1:8000/v1", "min_confidence": "0.25",
          "min_support": "0.5", "dense_weight": "0.7", "top_k": "7", "reader_passages": "12", "chunk_tokens": "200",
          "chunk_overlap_tokens": "32", "dense_chunks": "2", "ann_threshold": "1000", "answer_embed_sentences": "3"}
COMMAND = {"settings": ["ask", "q?"], "retrieval": ["ask", "q?"], "answering": ["ask", "q?"], "index": ["index", "x"]}


def _value(f) -> str:
    choices = f.metadata["cli"]["choices"]
    if choices:
        return next(c for c in choices if c != getattr(Settings(), f.name))
    return VALUES[f.name]


@pytest.mark.parametrize("f", cli_fields(), ids=lambda f: f.name)
def test_a_flag_and_its_variable_set_the_same_field(f):
    spec = f.metadata["cli"]
    flag = spec["flag"] or "--" + f.name.replace("_", "-")
    command = COMMAND[spec["group"]]
    args = build_parser().parse_args([command[0], flag, _value(f), *command[1:]])
    from_flag = _settings(args)
    from_env = Settings.from_env({"CITELINE_" + f.name.upper(): _value(f)})
    assert getattr(from_flag, f.name) == getattr(from_env, f.name) != getattr(Settings(), f.name)


def test_every_flag_is_a_field_and_a_bad_value_is_a_settings_error():
    names = {f.name for f in cli_fields()}
    assert {"top_k", "retrieval_mode", "reader_passages", "chunk_overlap_tokens", "vector_store"} <= names
    args = build_parser().parse_args(["ask", "--reader-passages", "0", "q?"])
    with pytest.raises(SettingsError, match="reader_passages must be at least 1"):
        _settings(args)
