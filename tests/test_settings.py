"""Settings (rag/settings.py, rag/options.py): sections that check themselves, and one flat name per setting that is
its CLI flag, its environment variable and its keyword."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.apps.cli import _settings, build_parser
from rag.errors import SettingsError
from rag.settings import ReaderSettings, RetrievalConfig, Settings, cli_fields, flat_name

# A valid value other than the default for each kind of setting that is a flag.
VALUES = {"index_dir": "elsewhere", "embedder": "/models/mine", "milvus_uri": "http://127.0.0.1:19530",
          "milvus_collection": "news", "reranker": "/models/ce", "reader_model": "/models/reader.json",
          "llm_model": "/models/x.gguf", "llm_url": "http://127.0.0.1:8000/v1", "min_confidence": "0.25",
          "min_support": "0.5", "dense_weight": "0.7", "top_k": "7", "reader_passages": "12", "chunk_tokens": "200",
          "chunk_overlap_tokens": "32", "dense_chunks": "2", "ann_threshold": "1000", "answer_embed_sentences": "3",
          "host": "0.0.0.0", "port": "8080"}
COMMAND = {"settings": ["ask", "q?"], "retrieval": ["ask", "q?"], "answering": ["ask", "q?"], "index": ["index", "x"],
           "serve": ["serve"]}


def _value(f) -> str:
    choices = f.metadata["cli"]["choices"]
    if choices:
        return next(c for c in choices if c != Settings().flat()[flat_name(f)])
    return VALUES[flat_name(f)]


@pytest.mark.parametrize("f", cli_fields(), ids=flat_name)
def test_a_flag_and_its_variable_set_the_same_field(f):
    spec, name = f.metadata["cli"], flat_name(f)
    flag = spec["flag"] or "--" + name.replace("_", "-")
    command = COMMAND[spec["group"]]
    args = build_parser().parse_args([command[0], flag, _value(f), *command[1:]])
    from_flag = _settings(args).flat()
    from_env = Settings.from_env({"CITELINE_" + name.upper(): _value(f)}).flat()
    assert from_flag[name] == from_env[name] != Settings().flat()[name]


def test_every_flag_is_a_field_and_a_bad_value_is_a_settings_error():
    names = {flat_name(f) for f in cli_fields()}
    assert {"top_k", "retrieval_mode", "reader_passages", "chunk_overlap_tokens", "vector_store"} <= names
    args = build_parser().parse_args(["ask", "--reader-passages", "0", "q?"])
    with pytest.raises(SettingsError, match="reader_passages must be at least 1"):
        _settings(args)


def test_a_setting_lands_in_its_section_by_its_flat_name():
    settings = Settings(index_dir="idx", top_k=3, retrieval_mode="bm25", reader_passages=12, llm_timeout=5.0,
                        vector_store="milvus", milvus_uri="http://db:19530")
    assert settings.index_dir == Path("idx")
    assert (settings.retrieval.top_k, settings.retrieval.mode, settings.reader.passages) == (3, "bm25", 12)
    assert settings.llm.timeout == 5.0 and settings.store.backend == "milvus"
    # a whole section, then a flat name on top of it
    mine = Settings(retrieval=RetrievalConfig(dense_weight=0.7, fusion="rrf"), top_k=2)
    assert (mine.retrieval.dense_weight, mine.retrieval.fusion, mine.retrieval.top_k) == (0.7, "rrf", 2)
    # replace() changes by flat name and keeps the rest
    changed = mine.replace(reader_passages=4, index_dir=Path("other"))
    assert changed.reader == ReaderSettings(passages=4) and changed.retrieval == mine.retrieval
    assert changed.index_dir == Path("other") and mine.reader.passages == 10
    assert Settings.from_env({"CITELINE_READER_LEAD_CHARS": "0"}).reader.lead_chars == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"top_k": 0}, "top_k must be at least 1"),
     ({"top_k": 200}, r"top_k must be at most max_top_k \(100\)"),  # two sections: Settings checks it
     ({"chunk_tokens": 100, "chunk_overlap_tokens": 100}, "chunk_overlap_tokens must be between 0 and"),
     ({"min_confidence": 1.5}, "min_confidence must be between 0 and 1"),
     ({"dense_weight": -0.1}, "dense_weight must be at least 0"),
     ({"reader_passages": "ten"}, "reader_passages must be a whole number"),
     ({"llm_timeout": 0.0}, "llm_timeout must be positive"),
     ({"port": 70000}, "port must be at most 65535"),
     ({"host": " "}, "host must name an address"),
     ({"answer_mode": "poem"}, "answer_mode must be 'extractive' or 'llm'"),
     ({"passages": 3}, "unknown setting"),  # a field's own name is not a flat name
     ({"retrieval": ReaderSettings()}, "retrieval section must be a RetrievalConfig")],
)
def test_a_bad_value_is_refused_by_the_section_it_belongs_to(settings, message):
    with pytest.raises(SettingsError, match=message):
        Settings(**settings)
    if not {"passages", "retrieval", "reader_passages"} & set(settings):  # a variable is text: see below
        with pytest.raises(SettingsError, match=message):
            Settings.from_env({f"CITELINE_{k.upper()}": str(v) for k, v in settings.items()})


def test_a_variable_that_is_not_of_the_settings_type_says_so():
    with pytest.raises(SettingsError, match="CITELINE_READER_PASSAGES='ten' is not a valid int"):
        Settings.from_env({"CITELINE_READER_PASSAGES": "ten"})


def test_a_secret_is_not_shown():
    shown = repr(Settings(llm_api_key="sk-secret", milvus_token="user:pw"))
    assert "sk-secret" not in shown and "user:pw" not in shown and "top_k=5" in shown


def test_a_section_checks_the_type_range_and_rules_its_fields_declare():
    """rag/options.py on a section of its own: what a new section gets by declaring its fields with setting()."""
    from dataclasses import dataclass

    from rag.options import Section, field_type, setting

    @dataclass(frozen=True)
    class Demo(Section):
        workers: int = setting(2, low=0, meaning="one per core")
        share: float | None = setting(None, low=0.0, high=1.0)
        label: str = setting("x", name="demo_label")

        def check(self) -> None:
            if self.label == "bad":
                raise SettingsError("demo_label may not be 'bad'")

    assert Demo().workers == 2 and Demo(share=0.5).share == 0.5
    with pytest.raises(SettingsError, match=r"workers must be 0 \(one per core\) or more, got -1"):
        Demo(workers=-1)
    with pytest.raises(SettingsError, match="share must be between 0 and 1"):
        Demo(share=2.0)
    with pytest.raises(SettingsError, match="the setting demo_label must be a str"):
        Demo(label=3)
    with pytest.raises(SettingsError, match="the setting workers must be a whole number"):
        Demo(workers=True)
    with pytest.raises(SettingsError, match="demo_label may not be 'bad'"):
        Demo(label="bad")
    assert [field_type(f) for f in Demo.__dataclass_fields__.values()] == [int, float, str]
