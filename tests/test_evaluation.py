from __future__ import annotations

import json
import shutil

import pytest

from rag.errors import CitelineError
from rag.eval.evaluation import load_dataset
from tests.conftest import BENCH, SEED, run_rag


@pytest.fixture
def user_set(tmp_path):
    """A user's own set: a folder of articles and a questions.jsonl naming files and lines."""
    folder = tmp_path / "myset"
    folder.mkdir()
    shutil.copy(SEED, folder)
    (folder / "flood.txt").write_text(
        "River Ash floods Harwick\n\nThe River Ash rose three metres in Harwick on Saturday, flooding 312 homes.\n",
        encoding="utf-8",
    )
    questions = [
        {"question": "Who was killed at Camp Taji?", "answers": ["Two Americans and a 26-year-old British soldier"],
         "sources": [SEED.name], "lines": [12]},
        {"question": "How many homes did the River Ash flood in Harwick?", "answers": ["312 homes"],
         "sources": ["flood.txt"], "lines": "3"},
        {"question": "Who won the 2020 Super Bowl?", "unanswerable": True},
    ]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions), encoding="utf-8")
    return folder


@pytest.mark.slow
def test_user_folder_set_through_the_cli(user_set, tmp_path):
    out = tmp_path / "report.json"
    index_dir = tmp_path / "eval-index"
    result = run_rag("eval", str(user_set), "--index-dir", str(index_dir), "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "articles" in result.stdout and "R@5" in result.stdout and "abstention" in result.stdout
    report = json.loads(out.read_text())
    summary = report["summary"]
    assert report["questions"] == 3 and report["kind"] == "folder"
    assert summary["article_recall@1"] == 1.0 and summary["article_mrr@10"] == 1.0
    assert summary["line_recall@5"] == 1.0
    assert summary["contains"] == 1.0
    assert summary["answers_with_correct_citation"] == 1.0 and summary["line_answers_with_correct_citation"] == 1.0
    assert summary["abstain_recall"] == 1.0 and summary["abstain_precision"] == 1.0
    assert {"latency_retrieve_p50_ms", "latency_answer_p95_ms", "latency_total_p50_ms"} <= set(summary)
    record = report["records"][0]
    assert any(c["line_start"] == 12 for c in record["citations"])
    again = run_rag("eval", str(user_set), "--index-dir", str(index_dir))
    assert again.returncode == 0 and "reused" in again.stderr


@pytest.mark.slow
def test_bad_sets_get_clear_errors(tmp_path):
    with pytest.raises(CitelineError, match=r"questions\.jsonl"):
        load_dataset(tmp_path)
    (tmp_path / "questions.jsonl").write_text('{"question": "ok?"}\n{"nope": 1}\n', encoding="utf-8")
    with pytest.raises(CitelineError, match=r"questions\.jsonl:2"):
        load_dataset(tmp_path)
    result = run_rag("eval", str(tmp_path / "missing"))
    assert result.returncode == 2 and "questions.jsonl" in result.stderr and "Traceback" not in result.stderr


needs_bench = pytest.mark.skipif(not (BENCH / "squad2-500").is_dir(),
                                 reason=f"benchmark data not found at {BENCH} (../shared/bench beside the checkout)")


@needs_bench
@pytest.mark.slow
def test_eval_on_squad_sample(tmp_path):
    out = tmp_path / "squad.json"
    corpus = BENCH / "squad2-500" / "corpus.jsonl.gz"
    result = run_rag("eval", str(BENCH / "squad2-500"), "--corpus", str(corpus), "--limit", "20",
                     "--index-dir", str(tmp_path / "squad-index"), "--json", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())["summary"]
    assert summary["article_recall@5"] >= 0.8
    assert 0.0 <= summary["abstain_precision"] <= 1.0 and "f1" in summary


@needs_bench
def test_rtqa_questions_load_with_the_mini_corpus():
    dataset = load_dataset(BENCH / "rtqa2022", BENCH / "rtqa2022" / "mini" / "corpus.jsonl.gz")
    assert dataset.name == "rtqa2022-mini" and dataset.kind == "benchmark"
    assert len(dataset.questions) == 206 and all(q.gold_doc_ids and q.date for q in dataset.questions)


def test_a_set_is_checked_before_any_question_is_asked(tmp_path):
    """A choice given twice (rtqa2024 has one) is asked once with a note; choices the API refuses stop the run at
    load, with the line, instead of after minutes of asking."""
    (tmp_path / "a.txt").write_text("Title\n\nText.\n", encoding="utf-8")
    lines = ['{"question": "Who?", "choices": ["Ann", "Bob", "ann ", "Cy"]}', '{"question": "What?"}']
    (tmp_path / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    dataset = load_dataset(tmp_path)
    assert dataset.questions[0].choices == ["Ann", "Bob", "Cy"]
    assert dataset.notes == ["questions.jsonl:1: a choice is given twice; it is asked once"]
    lines.append('{"question": "Which?", "choices": ["only one"]}')
    (tmp_path / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CitelineError, match=r"questions\.jsonl:3: give between 2 and"):
        load_dataset(tmp_path)
