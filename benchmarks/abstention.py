"""The abstention trade-off on squad2-500: how well each signal tells unanswerable questions apart (ROC AUC),
and abstention precision / recall / answer accuracy at each `min_support` threshold.

    python benchmarks/abstention.py --index-dir /tmp/bench/squad-index
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "bench" / "squad2-500"


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    pos, neg = scores[positive], scores[~positive]
    return float(np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, default=Path("/tmp/bench/squad-index"))
    args = parser.parse_args()

    from rag.answer.answering import QuestionParts
    from rag.api import Citeline
    from rag.eval.evaluation import load_dataset
    from rag.eval.metrics import answer_contains
    from rag.settings import Settings

    dataset = load_dataset(SQUAD)
    app = Citeline(Settings(index_dir=args.index_dir))
    app.index(dataset.corpus, progress=False)
    app.warm_up()
    answerer = app.extractive()
    rows = []
    for question in dataset.questions:
        vector = app.embedder.embed_query(question.question)
        hits = app.retrieve(question.question, 5, query_vector=vector)
        parts = QuestionParts.parse(question.question)
        candidates = answerer.candidates(hits)
        answerer.score(parts, vector, candidates)
        best = max(candidates, key=lambda c: c.score)
        correct = answer_contains(best.sentence.text, question.answers) if question.answers else 0.0
        rows.append((bool(question.unanswerable), best.score, best.dense, best.term_score, best.name_score,
                     correct))
    table = np.array(rows, dtype=float)
    unanswerable = table[:, 0] == 1
    score, name, correct = table[:, 1], table[:, 4], table[:, 5]
    for label, column in (("sentence score", 1), ("embedding similarity", 2), ("question words", 3),
                          ("names", 4)):
        print(f"ROC AUC of low {label} for unanswerable: {auc(-table[:, column], unanswerable):.3f}")
    base = correct[~unanswerable].mean()
    print(f"answerable questions whose best sentence contains a gold answer, no abstention: {base:.3f}")
    print("| min_support | abstain precision | abstain recall | answerable contains |")
    print("|---|---|---|---|")
    for threshold in (0.30, 0.45, 0.55, 0.65, 0.75):
        abstain = (score < threshold) | (name < 0.5)
        hit = (abstain & unanswerable).sum()
        precision = hit / max(1, abstain.sum())
        recall = hit / unanswerable.sum()
        kept = (correct[~unanswerable] * ~abstain[~unanswerable]).mean()
        print(f"| {threshold:.2f} | {precision:.3f} | {recall:.3f} | {kept:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
