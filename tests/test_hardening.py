"""Bad input on the Python API and on the index on disk: each is refused with a message that says what to do,
and nothing already indexed is lost (issue 11). The same cases on the CLI and the chat are in test_cli.py and
test_ui.py; benchmarks/bad_inputs.py runs them all, and more, with time and memory limits."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime

import pytest

from rag.api import Citeline
from rag.errors import BadQuestionError, CitelineError, IndexDamagedError, IndexMissingError, SettingsError
from rag.index.store import MANIFEST, read_manifest
from rag.settings import Settings
from tests.conftest import SEED, seed_line

QUESTION = "Who was killed at Camp Taji?"


@pytest.fixture
def index_copy(seed_index_dir, tmp_path):
    target = tmp_path / "index"
    shutil.copytree(seed_index_dir, target)
    return target


def files_of(index_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in index_dir.rglob("*") if p.is_file() and p.name != ".lock"}


def _manifest(index_dir) -> dict:
    return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))


def _part(index_dir, part: str):
    """A file of the index's first segment: its SQLite file, BM25 folder or FAISS file."""
    segment = _manifest(index_dir)["segments"][0]
    name = {"chunks": f"chunks-{segment['id']:06d}.sqlite", "bm25": f"bm25-{segment['id']:06d}",
            "vectors": segment["vectors"].get("file", "")}[part]
    return index_dir / name


def _vectors(manifest: dict) -> dict:
    return manifest["segments"][0]["vectors"]


def _cut(path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def _edit(index_dir, change) -> None:
    data = _manifest(index_dir)
    change(data)
    (index_dir / MANIFEST).write_text(json.dumps(data), encoding="utf-8")


DAMAGES = {
    "FAISS file cut in half": lambda d: _cut(_part(d, "vectors")),
    "FAISS file of garbage": lambda d: _part(d, "vectors").write_bytes(b"\x07" * _part(d, "vectors").stat().st_size),
    "SQLite of garbage": lambda d: _part(d, "chunks").write_bytes(b"\x07" * _part(d, "chunks").stat().st_size),
    "SQLite cut in half": lambda d: _cut(_part(d, "chunks")),
    "BM25 folder missing": lambda d: shutil.rmtree(_part(d, "bm25")),
    "BM25 file corrupt": lambda d: (_part(d, "bm25") / "chunks" / "vocab.json").write_text(
        "{" * (_part(d, "bm25") / "chunks" / "vocab.json").stat().st_size),
    "counts of the wrong type": lambda d: _edit(d, lambda m: m["counts"].update(chunks="many")),
    "counts a list": lambda d: _edit(d, lambda m: m.update(counts=[1, 2])),
    "a vectors path outside the index": lambda d: _edit(d, lambda m: _vectors(m).update(file="../../x.faiss")),
    "a vectors path to /dev/zero": lambda d: _edit(d, lambda m: _vectors(m).update(file="/dev/zero")),
    "manifest not JSON": lambda d: (d / MANIFEST).write_bytes(b"\x00not json"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_index_is_a_message_naming_rebuild_and_is_left_alone(index_copy, embedder, damage, tmp_path):
    flood = tmp_path / "flood.txt"
    flood.write_text("Flood hits Harwick\n\nThe river rose two metres in Harwick.\n", encoding="utf-8")
    DAMAGES[damage](index_copy)
    before = files_of(index_copy)
    app = Citeline(Settings(index_dir=index_copy), embedder=embedder)
    with pytest.raises(IndexDamagedError, match=r"rag index --rebuild") as info:
        app.ask(QUESTION)
    assert "\n" not in str(info.value)
    try:  # a build into it is refused before anything is written, unless it reads nothing damaged (an update
        app.index([flood], progress=False)  # writes a segment of its own and reads no old BM25)
    except IndexDamagedError:
        assert files_of(index_copy) == before
    else:
        assert damage == "BM25 file corrupt"
        with pytest.raises(IndexDamagedError, match=r"rag index --rebuild"):
            app.ask(QUESTION)
    # The way out the message names works.
    app.index([SEED], rebuild=True, progress=False)
    assert any(c.line_start == 12 for c in app.ask(QUESTION).citations)


def test_a_deleted_manifest_is_never_written_over(index_copy, embedder, tmp_path):
    (index_copy / MANIFEST).unlink()
    before = files_of(index_copy)
    app = Citeline(Settings(index_dir=index_copy), embedder=embedder)
    assert not app.has_index()
    with pytest.raises(IndexMissingError, match=r"no manifest\.json.*--rebuild"):
        app.ask(QUESTION)
    flood = tmp_path / "flood.txt"
    flood.write_text("Flood hits Harwick\n\nThe river rose two metres in Harwick.\n", encoding="utf-8")
    with pytest.raises(IndexMissingError, match="nothing was changed"):
        app.index([flood], progress=False)
    assert files_of(index_copy) == before
    app.index([SEED, flood], rebuild=True, progress=False)
    assert read_manifest(index_copy).counts["articles"] == 2


def test_an_index_folder_that_is_a_file_is_refused(tmp_path, embedder):
    path = tmp_path / "index"
    path.write_text("not a folder")
    with pytest.raises(CitelineError, match="is a file, not a folder"):
        Citeline(Settings(index_dir=path), embedder=embedder)
    assert path.read_text() == "not a folder"


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("  \n\t", "empty"), ("\x00\x00\x00", "empty"), ("\x1b[2J\x1b[H", "empty"),
     ("?!?...", "nothing to search for"), ("what is the", "nothing to search for"),
     ("Who is he?", "nothing to search for"), ("\ud800 Who was killed?", "not UTF-8"), (None, "must be text"),
     (b"Who was killed?", "must be text"), ("x" * 2001, "limit")],
)
def test_questions_without_anything_to_search_for_are_refused(seed_app, question, message):
    with pytest.raises(BadQuestionError, match=message):
        seed_app.ask(question)


def test_control_characters_are_taken_out_of_a_question(seed_app):
    answer = seed_app.ask("\x1b[31mWho was\x00 killed at Camp Taji?\x1b[0m")
    assert answer.question == QUESTION
    assert any(c.line_start == 12 for c in answer.citations)


def test_questions_of_another_script_are_asked(seed_app):
    assert seed_app.ask("谁在塔吉营地被杀?").question == "谁在塔吉营地被杀?"


@pytest.mark.parametrize("k", [0, -1, 101, 10**9, 5.5, "five", True, [5], {}])
def test_k_has_one_rule(seed_app, k):
    with pytest.raises(BadQuestionError, match="from 1 to 100"):
        seed_app.ask(QUESTION, k)
    with pytest.raises(BadQuestionError, match="from 1 to 100"):
        seed_app.retrieve(QUESTION, k)


@pytest.mark.parametrize("k", ["3", 3.0, 3])
def test_k_from_a_form_or_a_slider_is_converted(seed_app, k):
    assert len(seed_app.retrieve(QUESTION, k)) <= 3
    assert any(c.quote == seed_line(12) for c in seed_app.ask(QUESTION, k).citations)


def test_dates_and_sources_are_converted_or_refused(seed_app):
    for since in ("2020-03-01", date(2020, 3, 1), datetime(2020, 3, 1, 8, 0)):
        assert any(c.line_start == 12 for c in seed_app.ask(QUESTION, since=since).citations)
    assert seed_app.ask(QUESTION, since="2021-01-01").citations == []
    for bad in ("yesterday", 20200301, "2020-02-30"):
        with pytest.raises(BadQuestionError, match="YYYY-MM-DD"):
            seed_app.ask(QUESTION, since=bad)
    with pytest.raises(BadQuestionError, match="is after"):
        seed_app.ask(QUESTION, since="2021-01-01", until="2020-01-01")
    assert any(c.line_start == 12 for c in seed_app.ask(QUESTION, sources="seeds").citations)
    with pytest.raises(BadQuestionError, match="sources"):
        seed_app.ask(QUESTION, sources=123)
    with pytest.raises(BadQuestionError, match="answer mode"):
        seed_app.ask(QUESTION, mode="gpt")


def test_llm_mode_without_a_model_gives_the_extractive_answer_and_says_why(seed_index_dir, embedder):
    app = Citeline(Settings(index_dir=seed_index_dir, llm_model="/nonexistent/model.gguf"), embedder=embedder)
    answer = app.ask(QUESTION, mode="llm")
    assert not answer.abstained and answer.mode == "extractive"
    assert any(c.quote == seed_line(12) for c in answer.citations)
    assert "answered without a chat model" in answer.note and "pip install 'citeline[llm]'" in answer.note
    assert "CITELINE_LLM_MODEL" in answer.note


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"top_k": "5"}, "whole number"), ({"min_support": float("nan")}, "number"), ({"index_dir": 3}, "a path"),
     ({"max_file_bytes": 0}, "at least 1"), ({"top_k": 101}, "max_top_k"), ({"chunk_tokens": 10}, "at least 32")],
)
def test_settings_of_the_wrong_type_or_range_are_refused(settings, message):
    with pytest.raises(SettingsError, match=message):
        Settings(**settings)


def test_index_paths_are_checked(make_app, tmp_path):
    app = make_app()
    with pytest.raises(CitelineError, match="paths to index"):
        app.index(123, progress=False)
    report = app.index([123, None, ""], progress=False)
    assert [reason for _, reason in report.skipped] == ["not a path"] * 3 and not report.written
    report = app.index(str(SEED), progress=False)  # one path as a string is one path, not its characters
    assert report.articles_added == 1


def test_index_files_are_readable_by_other_users(make_app):
    """The manifest was written 0600 (mkstemp's mode), so no one else could read an index that was shared."""
    import stat

    from rag.files import current_umask

    app = make_app()
    app.index([SEED], progress=False)
    assert stat.S_IMODE((app.index_dir / MANIFEST).stat().st_mode) == 0o666 & ~current_umask()


def test_help_puts_the_answer_options_together_with_defaults_and_examples():
    from rag.apps.cli import build_parser

    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    text = commands["ask"].format_help()
    retrieval, answering = text.split("answering (")[0].split("retrieval (")[1], text.split("answering (")[1]
    assert "--answer-mode" in answering and "--llm-model" in answering and "--answer-mode" not in retrieval
    assert "default 0.45" in " ".join(answering.split())
    assert "examples:" in text and 'rag ask "Who was killed at Camp Taji?"' in text
    for name in ("index", "eval", "serve", "list", "show"):
        assert "examples:" in commands[name].format_help()


def test_markdown_escaping_keeps_citation_markers_and_stops_links():
    from rag.apps.ui import _md

    assert _md("were killed. [1] And wounded. [2]") == "were killed. [1] And wounded. [2]"
    assert _md("[click](javascript:alert(1)) ![x](y.png)") == "[click\\](javascript:alert(1)) ![x\\](y.png)"
    assert _md("Wyoming's \"fair\" & <rodeo> *record* #3") == "Wyoming's \"fair\" \\& \\<rodeo\\> \\*record\\* \\#3"
    assert _md("- a list\n12. ordered") == "\\- a list\n12\\. ordered"
