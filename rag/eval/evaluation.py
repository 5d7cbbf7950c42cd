"""`rag eval`: run a question set through retrieval and answering and score it.

Two kinds of set. A benchmark folder (`../shared/bench/README.md`): a corpus file (`corpus.jsonl.gz`, or another
given with `--corpus`) and `questions.jsonl` with `gold_doc_ids`. A user's own set: a folder of articles and a
`questions.jsonl` with `question`, optional `answers`, `sources` (file names) and `lines`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.answer.answering import ALSO_REPORTED
from rag.answer.grounding import SupportChecker, split_cited
from rag.api import check_choices
from rag.errors import BadQuestionError, CitelineError
from rag.eval.evaluators import summary_evaluator
from rag.schema import Answer, Hit
from rag.text.normalize import normalize_answer

QUESTIONS = "questions.jsonl"
CORPUS_NAMES = ("corpus.jsonl.gz", "corpus.jsonl")
RANK_DEPTH = 50  # chunks ranked per question for the article-level metrics
_MARKER = re.compile(r"\s*\[\d+\]")


@dataclass
class EvalQuestion:
    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    gold_doc_ids: list[str] = field(default_factory=list)
    gold_sources: list[str] = field(default_factory=list)
    gold_lines: list[tuple[int, int]] = field(default_factory=list)
    date: str = ""
    unanswerable: bool | None = None
    choices: list[str] = field(default_factory=list)


@dataclass
class Dataset:
    name: str
    corpus: list[Path]
    questions: list[EvalQuestion]
    kind: str  # "benchmark" (gold article ids) or "folder" (gold file names)
    notes: list[str] = field(default_factory=list)  # what was mended while reading the set, to tell the user

    @property
    def has_lines(self) -> bool:
        return any(q.gold_lines for q in self.questions)

    @property
    def marks_unanswerable(self) -> bool:
        return any(q.unanswerable is not None for q in self.questions)

    @property
    def has_choices(self) -> bool:
        return any(q.choices for q in self.questions)


def _lines(value: Any) -> list[tuple[int, int]]:
    """12, "12-14", [12, 14] or a list of those."""
    if value is None or value == []:
        return []
    if isinstance(value, int):
        return [(value, value)]
    if isinstance(value, str):
        first, _, last = value.partition("-")
        return [(int(first), int(last or first))]
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return [(value[0], value[1])]
    if isinstance(value, list):
        return [span for item in value for span in _lines(item)]
    raise ValueError(f"lines must be 12, '12-14', [12, 14] or a list of those, not {value!r}")


def load_dataset(folder: Path, corpus: Path | None = None, limit: int | None = None) -> Dataset:
    folder = Path(folder)
    questions_path = folder / QUESTIONS
    if not questions_path.is_file():
        raise CitelineError(f"{folder} has no {QUESTIONS}; see `rag eval --help` for the two kinds of set")
    notes: list[str] = []
    questions = read_questions(questions_path, notes)
    questions = questions[:limit] if limit else questions
    if not questions:
        raise CitelineError(f"{questions_path} holds no questions")
    name = folder.resolve().name
    if corpus is not None:
        corpus = Path(corpus)
        if not corpus.exists():
            raise CitelineError(f"--corpus {corpus}: no such file or folder")
        name = f"{name}-{corpus.resolve().parent.name}" if corpus.is_file() else f"{name}-{corpus.resolve().name}"
        return Dataset(name, [corpus], questions, "benchmark", notes)
    for candidate in CORPUS_NAMES:
        if (folder / candidate).is_file():
            return Dataset(name, [folder / candidate], questions, "benchmark", notes)
    files = sorted(p for p in folder.iterdir() if p.name != QUESTIONS and not p.name.startswith("."))
    if not files:
        raise CitelineError(f"{folder} has questions but no articles")
    return Dataset(name, files, questions, "folder", notes)


def read_questions(path: Path, notes: list[str] | None = None) -> list[EvalQuestion]:
    """The records of a questions.jsonl; a bad one is refused with its line number before any question is asked,
    so that a long run does not stop half-way. A choice given twice is asked once, and `notes` says so."""
    questions = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            question = _question(json.loads(raw), number)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CitelineError(f"{path}:{number}: not a question record ({exc})") from None
        once: dict[str, str] = {}
        for choice in question.choices:
            once.setdefault(" ".join(choice.split()).lower(), choice)
        if len(once) < len(question.choices):
            if notes is not None:
                notes.append(f"{path.name}:{number}: a choice is given twice; it is asked once")
            question.choices = list(once.values())
        try:
            check_choices(question.choices)
        except BadQuestionError as exc:
            raise CitelineError(f"{path}:{number}: {exc}") from None
        questions.append(question)
    return questions


def _question(record: dict[str, Any], number: int) -> EvalQuestion:
    text = record["question"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty question")

    def texts(key: str) -> list[str]:
        return [str(item) for item in record.get(key) or []]

    return EvalQuestion(id=str(record.get("id") or number), question=text, answers=texts("answers"),
                        gold_doc_ids=texts("gold_doc_ids"), gold_sources=texts("sources"),
                        gold_lines=_lines(record.get("lines")), date=str(record.get("date") or ""),
                        unanswerable=record.get("unanswerable"), choices=texts("choices"))


def _on_gold_lines(question: EvalQuestion, start: int, end: int) -> bool:
    return any(start <= g_end and g_start <= end for g_start, g_end in question.gold_lines)


class Evaluator:
    """Scores retrieval, answers, citations, abstention and latency of a Citeline on a data set."""

    def __init__(self, app, dataset: Dataset, k: int = 5, use_dates: bool = False):
        self.app = app
        self.dataset = dataset
        self.k = k
        self.use_dates = use_dates
        self._names: dict[str, set[str]] | None = None
        self.support = SupportChecker(app.embedder)

    def gold_articles(self, question: EvalQuestion) -> set[str]:
        """Ids of the indexed articles a question's gold list names (by corpus id, alias or file name)."""
        if self._names is None:
            self._names = {}
            for article in self.app.articles():
                for key in article.keys:
                    self._names.setdefault(key, set()).add(article.id)
                    self._names.setdefault(Path(key.split("#")[0]).name, set()).add(article.id)
        names = question.gold_doc_ids if self.dataset.kind == "benchmark" else question.gold_sources
        return {article_id for name in names for article_id in self._names.get(name, ())}

    def run(self, progress: bool = True, on_question: Callable[[dict], None] | None = None) -> dict[str, Any]:
        """Every question through `Citeline.ask`, as a user asks it (and once more with its choices, where the
        set has them); retrieval metrics from `Citeline.retrieve` at depth RANK_DEPTH."""
        from tqdm import tqdm

        from rag.text.dates import to_date

        records = []
        dataset = self.dataset
        self.app.warm_up()
        for question in tqdm(dataset.questions, desc="Evaluating", unit="q", disable=None if progress else True):
            as_of = to_date(question.date) if self.use_dates and question.date else None
            ranked = self.app.retrieve(question.question, max(RANK_DEPTH, self.k), as_of=as_of)
            answer = self.app.ask(question.question, self.k, as_of=as_of)
            chosen = (self.app.ask(question.question, self.k, as_of=as_of, choices=question.choices)
                      if question.choices else None)
            record = self._record(question, ranked, answer, chosen)
            records.append(record)
            if on_question:
                on_question(record)
        return {"dataset": dataset.name, "kind": dataset.kind, "questions": len(records), "k": self.k,
                "use_dates": self.use_dates, "summary": self.summarise(records), "records": records}

    def _record(self, question: EvalQuestion, ranked: list[Hit], answer: Answer, chosen: Answer | None = None
                ) -> dict[str, Any]:
        gold = self.gold_articles(question)
        articles = list(dict.fromkeys(h.article.id for h in ranked))
        line_ranking = []
        if question.gold_lines:
            line_ranking = [
                "gold" if h.article.id in gold and _on_gold_lines(question, h.chunk.line_start, h.chunk.line_end)
                else f"x{i}"
                for i, h in enumerate(ranked)
            ]
        return {
            **asdict(question),
            "gold_articles": sorted(gold),
            "short_answer": answer.short_answer,
            **self._grounding(answer),
            "ranked_articles": articles[:10],
            "line_ranking": line_ranking[:10],
            "answer": answer.answer,
            "prediction": (f"{answer.short_answer} {_MARKER.sub('', answer.answer).strip()}".strip()
                           if not answer.abstained else ""),
            "cited_text": "\n".join(c.quote for c in answer.citations) if not answer.abstained else "",
            "confidence": answer.confidence,
            "choice": chosen.choice if chosen is not None else None,
            "abstained": answer.abstained,
            "citations": [c.to_dict() for c in answer.citations],
            "cited": [c.article_id for c in answer.citations],
            "cited_lines": [
                "gold" if c.article_id in gold and _on_gold_lines(question, c.line_start, c.line_end) else "x"
                for c in answer.citations
            ],
            "timings_ms": answer.timings_ms,
        }

    def _grounding(self, answer: Answer) -> dict[str, int]:
        """The answer's sentences, how many the lines they cite support, and its citation errors: markers that
        point at no citation, sentences without one, and quotes that are not the article's lines."""
        numbers = {c.n for c in answer.citations}
        sentences = [] if answer.abstained else split_cited(answer.answer)
        dangling = sum(1 for s in sentences for n in s.markers if n not in numbers)
        dangling += sum(1 for s in sentences if not s.markers)
        wrong_quotes = sum(
            1 for c in answer.citations
            if c.quote != self.app.article(c.article_id).quote(c.line_start, c.line_end)
        )
        quotes = {c.n: c.quote for c in answer.citations}
        supported = sum(1 for s in sentences if s.markers and self._supported(s, quotes, answer.short_answer))
        return {"sentences": len(sentences), "sentences_supported": supported,
                "citation_errors": dangling + wrong_quotes}

    def _supported(self, sentence, quotes: dict[int, str], short_answer: str) -> bool:
        """A sentence is supported by the lines it cites; "Also reported by [2], [3]" when each states the answer."""
        cited = [quotes[n] for n in sentence.markers if n in quotes]
        if sentence.text == ALSO_REPORTED:
            key = normalize_answer(short_answer)
            forms = {key}
            if len(key.split()) > 1 and all(w[:1].isupper() for w in short_answer.split()):
                forms.add(key.split()[-1])  # a name is repeated by its last word: "Harris" for "Kamala Harris"
            return bool(key) and all(any(f in normalize_answer(q) for f in forms) for q in cited)
        return self.support.supported(sentence.text, cited)

    def summarise(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """The scores of every metric family (rag/eval/evaluators.py)."""
        return summary_evaluator(self.dataset.marks_unanswerable)(records)


def format_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    lines = [f"{result['dataset']}: {result['questions']} questions, k={result['k']}"
             + (", with as-of dates" if result["use_dates"] else "")]

    def row(label: str, keys: list[tuple[str, str]]) -> None:
        present = [(name, s[key]) for name, key in keys if key in s]
        if present:
            lines.append(f"  {label:<12}" + "  ".join(f"{name} {value:.3f}" for name, value in present))

    at = [("R@1", "recall@1"), ("R@5", "recall@5"), ("R@10", "recall@10"), ("MRR@10", "mrr@10"),
          ("nDCG@10", "ndcg@10")]
    row("articles", [(n, "article_" + k) for n, k in at])
    row("lines", [(n, "line_" + k) for n, k in at])
    row("answers", [("contains", "contains"), ("EM", "exact_match"), ("F1", "f1")])
    row("citations", [("precise", "citation_precision"), ("answers ok", "answers_with_correct_citation"),
                      ("lines precise", "line_citation_precision"),
                      ("lines ok", "line_answers_with_correct_citation")])
    row("short", [("EM", "short_exact_match"), ("F1", "short_f1"), ("contains", "short_contains"),
                  ("given", "short_answer_rate")])
    row("grounding", [("supported sentences", "supported_sentences"), ("citation errors", "citation_errors"),
                      ("cited lines contain the answer", "cited_contains")])
    row("choices", [("accuracy", "choice_accuracy"), ("none chosen", "choice_none_rate")])
    row("abstention", [("precision", "abstain_precision"), ("recall", "abstain_recall"), ("F1", "abstain_f1"),
                       ("rate", "abstain_abstain_rate")])
    latency = [f"{stage} p50 {s[f'latency_{stage}_p50_ms']:.1f} / p95 {s[f'latency_{stage}_p95_ms']:.1f} ms"
               for stage in ("retrieve", "answer", "total") if f"latency_{stage}_p50_ms" in s]
    if latency:
        lines.append("  latency     " + "; ".join(latency))
    return "\n".join(lines)
