"""How well the reader's evidence tells "the answer is in the archive" from "its articles are gone", on the
training set (rtqa2024): every question read as asked and once more with every article that contains its
answer left out (how rtqa2025's 26 "not in the archive" questions were made), then a logistic regression on
the answerability features, cross-validated by question folds. Reports ROC AUC and the best abstention
precision at several recalls when such questions are one in ten (as in rtqa2025), for the shipped features and
with the read articles' publication dates beside them.

    python benchmarks/answerability.py                      # ../shared/bench/rtqa2024, index/eval/rtqa2024
    python benchmarks/answerability.py --json answerability.json

Nothing here is tuned on rtqa2025; the figure it bounds is issue 10's abstention target (precision and recall
0.5 on rtqa2025).
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench" / "rtqa2024"
SHARE = 0.1  # "not in the archive" questions among all, as in rtqa2025 (26 of 250)
RECALLS = (0.2, 0.3, 0.4, 0.5)


def date_features(hits: list, asked: date | None) -> list[float]:
    """Days from the question to its best article, read articles within a week of it, the nearest one."""
    articles = list({h.article.id: h.article for h in hits}.values())[:5]
    if asked is None:
        return [60.0, 0.0, 60.0]
    days = [(asked - date.fromisoformat(a.published)).days if a.published else 60 for a in articles] or [60]
    return [min(abs(days[0]), 60), sum(1 for d in days if -1 <= d <= 7), min(min(abs(d) for d in days), 60)]


def cross_validated(x: np.ndarray, gone: np.ndarray, folds: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    weights = np.where(gone, (1 - SHARE) / SHARE, 1.0)  # one question in ten without its articles
    out = np.zeros(len(gone))
    for fold in np.unique(folds):
        test = folds == fold
        scale = StandardScaler().fit(x[~test])
        model = LogisticRegression(C=1.0, max_iter=3000).fit(scale.transform(x[~test]), gone[~test],
                                                             sample_weight=weights[~test])
        out[test] = model.predict_proba(scale.transform(x[test]))[:, 1]
    return out


def precision_at(scores: np.ndarray, gone: np.ndarray, recall: float) -> float:
    """The best abstention precision at this recall or more, with SHARE of questions gone."""
    best = 0.0
    for threshold in np.unique(scores):
        abstain = scores >= threshold
        caught = (abstain & gone).sum() / gone.sum()
        false = (abstain & ~gone).sum() / (~gone).sum()
        if caught >= recall and caught + false:
            best = max(best, SHARE * caught / (SHARE * caught + (1 - SHARE) * false))
    return round(float(best), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=BENCH)
    parser.add_argument("--index-dir", type=Path, default=None, help="default: index/eval/<set name>")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from sklearn.metrics import roc_auc_score

    from rag.answer.reader import answerable_features
    from rag.api import Citeline
    from rag.eval.evaluation import load_dataset
    from rag.eval.reader_training import ReaderTrainer
    from rag.settings import Settings
    from rag.text.dates import to_date

    dataset = load_dataset(args.dataset)
    app = Citeline(Settings(index_dir=args.index_dir or ROOT / "index" / "eval" / dataset.name))
    app.index(dataset.corpus, progress=True)
    trainer = ReaderTrainer(app, dataset, passages=app.settings.reader.passages, use_dates=True)
    examples = trainer.collect()
    readings = trainer._out_of_fold_readings(examples, [e for e in examples if e.answerable])
    asked = {q.question: to_date(q.date) if q.date else None for q in dataset.questions}
    shipped = np.array([answerable_features(r, e.hits) for r, e in zip(readings, examples, strict=True)])
    dates = np.array([date_features(e.hits, asked.get(e.question.text)) for e in examples])
    gone = np.array([not e.answerable for e in examples])
    folds = np.array([e.fold for e in examples])
    results = {}
    for name, x in (("shipped features", shipped), ("shipped + dates", np.c_[shipped, dates]),
                    ("dates alone", dates)):
        scores = cross_validated(x, gone, folds)
        results[name] = {"auc": round(float(roc_auc_score(gone, scores)), 3),
                         **{f"precision_at_recall_{r}": precision_at(scores, gone, r) for r in RECALLS}}
        print(f"{name:18s} " + "  ".join(f"{k} {v}" for k, v in results[name].items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
