"""The reader on real components: the real embedder, a real index, spaCy's English pipeline, the shipped model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answer.reader_model import FORMAT, ReaderModel
from rag.eval.evaluation import load_dataset
from rag.eval.metrics import normalize_answer
from tests.conftest import ask_json, run_rag, seed_line

# Four short articles the tests write: two agree on who designed a lighthouse, two disagree on a flood's toll.
ARTICLES = {
    "beacon.txt": (
        "Marisol Beacon lighthouse reopens after restoration\n\n"
        "The Marisol Beacon, a lighthouse on the island of Corvena, reopened on Saturday after a two-year"
        " restoration.\n\n"
        "The restoration cost 4.2 million euros and was paid for by the regional government.\n\n"
        "The lighthouse was designed in 1887 by the engineer Agathe Lindqvist.\n\n"
        "Mayor Tomas Varga cut the ribbon in front of about 300 residents.\n"
    ),
    "gazette.txt": (
        "Corvena celebrates its old light\n\n"
        "Crowds gathered on Corvena's northern cliffs to see the restored tower.\n\n"
        "Agathe Lindqvist, the engineer who designed the Marisol Beacon, built only two lighthouses in her life.\n\n"
        "Her drawings are kept in the island's museum.\n"
    ),
    "flood.txt": (
        "Deadly flood in Valmora\n\n"
        "At least 12 people were killed when the Rasna river flooded the town of Valmora on Tuesday.\n\n"
        "Rescue teams from Pelago evacuated 2,000 residents.\n\n"
        "The governor, Ilse Marrow, declared a state of emergency.\n"
    ),
    "flood-update.txt": (
        "Valmora toll rises\n\n"
        "Officials now say 30 people were killed in the Valmora flood, after rescuers reached the lower town.\n\n"
        "The Rasna river burst its banks after three days of rain.\n"
    ),
}


@pytest.fixture(scope="module")
def news_app(embedder, tmp_path_factory):
    from rag.api import Citeline
    from rag.settings import Settings

    folder = tmp_path_factory.mktemp("news")
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    app = Citeline(Settings(index_dir=folder / "index"), embedder=embedder)
    app.index([folder / name for name in ARTICLES], progress=False)
    return app


def _cited(answer, source_name: str) -> list:
    return [c for c in answer.citations if Path(c.source).name == source_name]


@pytest.mark.parametrize(
    ("question", "short", "line"),
    [
        ("When was the rocket attack on Camp Taji?", "Wednesday", 10),
        ("Where did the US launch air strikes?", "Iraq", 4),
    ],
)
def test_seed_short_answers_and_their_line(seed_app, question, short, line):
    answer = seed_app.ask(question)
    assert not answer.abstained, answer.answer
    assert normalize_answer(answer.short_answer) == normalize_answer(short)
    first = answer.citations[0]
    assert first.line_start == line
    # The short answer is in the cited line, and the answer quotes that line's sentence.
    assert short.lower() in seed_line(line).lower()
    assert short.lower() in answer.answer.lower()
    assert 0.0 <= answer.confidence <= 1.0


def test_seed_who_question_ranks_the_named_person_first(seed_app):
    question = "Who is the Pentagon spokeswoman?"
    reading = seed_app.answer_reader().read(question, seed_app.retrieve(question, 10), seed_app.reader().annotation)
    assert reading.question.answer_class == "PERSON"
    assert reading.best.text == "Alyssa Farah" and reading.best.best.line == 20
    # Words of the question are never answers; a place is not the answer to "who".
    assert all("pentagon" not in c.key for c in reading.candidates)
    assert all(c.answer_class != "PLACE" for c in reading.candidates)


def test_how_many_takes_a_number_of_the_kind_counted(news_app):
    question = "How many residents were evacuated from Valmora?"
    reading = news_app.answer_reader().read(question, news_app.retrieve(question, 10), news_app.reader().annotation)
    assert reading.question.answer_class == "NUMBER" and reading.question.focus == "resident"
    assert reading.best.text == "2,000"
    assert reading.best.best.sentence.text.startswith("Rescue teams from Pelago evacuated 2,000 residents")


def test_the_reader_reads_each_articles_lead(news_app, embedder, tmp_path):
    """Phrases come from an article's lead (reader_lead_chars): annotated when it was indexed, or parsed at
    question time in an index that holds no annotations; lines past it are not read."""
    from rag.answer.reader import Reader
    from rag.api import Citeline
    from rag.settings import Settings

    question = "Who declared a state of emergency in Valmora?"  # flood.txt, line 7 (past its first 100 characters)
    hits = news_app.retrieve(question, 10)
    assert news_app.answer_reader().read(question, hits, news_app.reader().annotation).best.text == "Ilse Marrow"
    assert Reader(lead_chars=0).read(question, hits).best.text == "Ilse Marrow"  # no annotations: parsed now
    assert all("marrow" not in c.key for c in Reader(lead_chars=100).read(question, hits).candidates)
    (tmp_path / "flood.txt").write_text(ARTICLES["flood.txt"], encoding="utf-8")
    short_leads = Citeline(Settings(index_dir=tmp_path / "index", reader_lead_chars=100), embedder=embedder)
    short_leads.index([tmp_path / "flood.txt"], progress=False)
    hits = short_leads.retrieve(question, 10)
    reading = short_leads.answer_reader().read(question, hits, short_leads.reader().annotation)
    assert all("marrow" not in c.key for c in reading.candidates)


def test_camp_taji_unsure_of_a_phrase_still_answers_with_line_12(seed_app):
    """The reader does not give a short answer it is unsure of; the sentence that answers is still given."""
    answer = seed_app.ask("Who was killed at Camp Taji?")
    assert not answer.abstained
    assert answer.citations[0].line_start == 12
    assert "Two Americans and a 26-year-old British soldier" in answer.answer
    if answer.short_answer:
        assert answer.confidence >= seed_app.answer_reader().min_confidence


def test_agreeing_articles_are_all_cited(news_app):
    answer = news_app.ask("Who designed the Marisol Beacon lighthouse?")
    assert normalize_answer(answer.short_answer) == "agathe lindqvist"
    assert _cited(answer, "beacon.txt") and _cited(answer, "gazette.txt")
    assert "[2]" in answer.answer  # the second article is named as agreeing, not just listed
    for citation in answer.citations:
        assert "Lindqvist" in citation.quote


def test_disagreeing_articles_are_both_given(news_app):
    answer = news_app.ask("How many people were killed in the Valmora flood?")
    assert not answer.abstained
    assert {normalize_answer(answer.short_answer)} <= {"at least 12", "12", "30"}
    assert "12" in answer.answer and "30" in answer.answer
    assert _cited(answer, "flood.txt") and _cited(answer, "flood-update.txt")


def test_question_about_what_no_article_reports_abstains(seed_app):
    answer = seed_app.ask("Which team won the 2018 football World Cup final in Moscow?")
    assert answer.abstained
    assert answer.short_answer == ""
    assert "do not answer" in answer.answer
    assert answer.citations  # the closest passages are still shown


def test_choices_through_the_api(seed_app):
    choices = ["Mark Esper", "Alyssa Farah", "Ben Wallace", "Donald Trump"]
    answer = seed_app.ask("Who is the Pentagon spokeswoman?", choices=choices)
    assert answer.choice == "Alyssa Farah"
    assert answer.choices == choices
    assert answer.citations[0].line_start == 20

    none = seed_app.ask("Who is the Pentagon spokeswoman?", choices=["Nancy Pelosi", "Angela Merkel"])
    assert none.choice == ""
    assert "None of the choices" in none.answer


def test_choices_through_the_cli(seed_index_dir):
    result = ask_json("Where were two Iraqi federal policemen killed?", "--index-dir", str(seed_index_dir),
                      "--choices", "Karbala", "Jurf al-Sakher", "Baghdad")
    assert result["choice"] == "Jurf al-Sakher"
    assert result["citations"][0]["line_start"] == 24


def test_choices_need_two_distinct_options(seed_index_dir):
    result = run_rag("ask", "Who is the Pentagon spokeswoman?", "--index-dir", str(seed_index_dir),
                     "--choices", "Alyssa Farah")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "choices" in result.stderr


QUESTIONS = [
    ("Who designed the Marisol Beacon lighthouse?", ["Agathe Lindqvist"], ["beacon.txt", "gazette.txt"]),
    ("How much did the restoration of the Marisol Beacon cost?", ["4.2 million euros"], ["beacon.txt"]),
    ("On which island is the Marisol Beacon?", ["Corvena"], ["beacon.txt"]),
    ("Who cut the ribbon at the Marisol Beacon?", ["Tomas Varga", "Mayor Tomas Varga"], ["beacon.txt"]),
    ("How many people were killed in the Valmora flood?", ["At least 12", "12", "30"],
     ["flood.txt", "flood-update.txt"]),
    ("Which river flooded Valmora?", ["Rasna", "the Rasna river"], ["flood.txt", "flood-update.txt"]),
    ("Who declared a state of emergency in Valmora?", ["Ilse Marrow"], ["flood.txt"]),
    ("How many residents were evacuated from Valmora?", ["2,000"], ["flood.txt"]),
    ("Where are Agathe Lindqvist's drawings kept?", ["the island's museum"], ["gazette.txt"]),
    ("When did the Marisol Beacon reopen?", ["Saturday", "on Saturday"], ["beacon.txt"]),
]


def test_training_on_a_tiny_set_writes_a_model_that_answers(news_app, tmp_path):
    from rag.eval.reader_training import ReaderTrainer
    from rag.settings import Settings

    folder = tmp_path / "tiny-set"
    folder.mkdir()
    (folder / "questions.jsonl").write_text("".join(
        json.dumps({"id": str(i), "question": q, "answers": answers, "gold_doc_ids": gold}) + "\n"
        for i, (q, answers, gold) in enumerate(QUESTIONS)), encoding="utf-8")
    (folder / "corpus.jsonl").write_text("", encoding="utf-8")  # the set's articles are news_app's
    dataset = load_dataset(folder)
    trainer = ReaderTrainer(news_app, dataset, passages=4)
    logged: list[str] = []
    examples = trainer.collect(progress=False, log=logged.append)
    assert sum(1 for e in examples if e.answerable) == len(QUESTIONS)
    assert sum(1 for e in examples if not e.answerable) == len(QUESTIONS)
    model = trainer.fit(examples, log=logged.append)
    assert "exact_match_cv" in logged[-1]

    path = tmp_path / "model" / "reader.json"
    model.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))  # JSON, not pickle
    assert data["format"] == FORMAT and data["meta"]["trained_on"] == "tiny-set"
    loaded = ReaderModel.load(path)
    assert 0.0 <= loaded.min_confidence <= 1.0

    app = news_app.__class__(Settings(index_dir=news_app.index_dir, reader_model=str(path)),
                             embedder=news_app.embedder)
    reading = app.answer_reader().read("Who declared a state of emergency in Valmora?",
                                       app.retrieve("Who declared a state of emergency in Valmora?", 4),
                                       app.reader().annotation, always=True)
    assert normalize_answer(reading.best.text) == "ilse marrow"
    assert reading.best.best.sentence.text.startswith("The governor, Ilse Marrow")


def test_a_damaged_reader_model_is_a_clear_error(seed_index_dir, tmp_path):
    bad = tmp_path / "reader.json"
    bad.write_text('{"format": "citeline-reader/1", "mention": {}}', encoding="utf-8")
    result = run_rag("ask", "Who is the Pentagon spokeswoman?", "--index-dir", str(seed_index_dir),
                     "--reader-model", str(bad))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "reader model" in result.stderr and "train-reader" in result.stderr
