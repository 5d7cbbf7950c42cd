"""The reader's learned scorers, stored as JSON (never pickle): logistic regressions over named features, and the
entity-label probabilities they use. `rag train-reader` fits them on a question set (rag/eval/reader_training.py);
the package ships the ones fitted on RealTimeQA 2024 (`rag/models/reader.json`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.candidates import CANDIDATE_FEATURES, MENTION_FEATURES
from rag.answer.question import LABEL_CLASS
from rag.errors import SettingsError

FORMAT = "citeline-reader/1"
# What the answerability scorer reads: how the best answers scored, and how well the passages match the question.
ANSWERABLE_FEATURES = (
    "p1", "p2", "margin", "top_articles", "top_sentence_terms", "top_names", "top_window", "similarity_1",
    "similarity_3", "max_sentence_terms", "max_names", "mass_5", "class_candidates",
)
# What the choice scorer reads about each choice of a multiple-choice question.
CHOICE_FEATURES = (
    "candidate_probability", "candidate_rank", "best_mention", "mention_mass", "mentions", "articles",
    "best_sentence_terms", "best_window", "in_title", "stated",
)

# The share of a question class's label prior given, before any training answer of that class is counted, to
# the entity labels of the class the question analysis expects (CARDINAL, QUANTITY, ORDINAL for "how many").
TYPE_SHARE = 0.9
_CLASS_LABELS: dict[str, set[str]] = {}
for _label, _class in LABEL_CLASS.items():
    if _label != "NP":
        _CLASS_LABELS.setdefault(_class, set()).add(_label)

BUNDLED = Path(__file__).parent.parent / "models" / "reader.json"


@dataclass
class LinearModel:
    """A logistic regression over standardised features: P = sigmoid(((x - mean) / scale) . coef + intercept)."""

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.logit(x), -30, 30)))

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features, "mean": _round(self.mean), "scale": _round(self.scale),
                "coef": _round(self.coef), "intercept": round(float(self.intercept), 6)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], expected: tuple[str, ...] | None = None) -> LinearModel:
        features = [str(f) for f in data["features"]]
        if expected is not None and tuple(features) != tuple(expected):
            missing = sorted(set(expected) - set(features)) or sorted(set(features) - set(expected))
            raise SettingsError(f"the reader model was trained on other features ({', '.join(missing[:5])});"
                                " retrain it with `rag train-reader`")
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(features),) for a in arrays):
            raise SettingsError("the reader model is damaged: its arrays do not match its features")
        mean, scale, coef = arrays
        return cls(features, mean, np.where(scale > 0, scale, 1.0), coef, float(data["intercept"]))


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


@dataclass
class LabelPriors:
    """P(entity label | what the question asks), counted on the training answers and smoothed toward the
    coarser question class, then toward every answer: "which city" answers are GPE, "who" answers PERSON."""

    by_key: dict[str, dict[str, float]] = field(default_factory=dict)  # "which:city" -> label -> count
    by_class: dict[str, dict[str, float]] = field(default_factory=dict)  # "PLACE" -> label -> count
    overall: dict[str, float] = field(default_factory=dict)  # label -> count
    smoothing: float = 3.0

    def probability(self, label: str, question_class: str, question_key: str) -> float:
        total = sum(self.overall.values())
        base = (self.overall.get(label, 0.0) + 1.0) / (total + 20.0)
        compatible = _CLASS_LABELS.get(question_class)
        if compatible:  # a class seldom seen in training ("how many") leans on the labels of its kind
            base = TYPE_SHARE * (label in compatible) / len(compatible) + (1 - TYPE_SHARE) * base
        by_class = self.by_class.get(question_class, {})
        p_class = (by_class.get(label, 0.0) + self.smoothing * base) / (sum(by_class.values()) + self.smoothing)
        by_key = self.by_key.get(question_key, {})
        return (by_key.get(label, 0.0) + self.smoothing * p_class) / (sum(by_key.values()) + self.smoothing)

    def to_dict(self) -> dict[str, Any]:
        return {"by_key": self.by_key, "by_class": self.by_class, "overall": self.overall, "smoothing": self.smoothing}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelPriors:
        return cls({k: dict(v) for k, v in data["by_key"].items()}, {k: dict(v) for k, v in data["by_class"].items()},
                   dict(data["overall"]), float(data.get("smoothing", 3.0)))


@dataclass
class ReaderModel:
    """Everything the reader learned: how to score a mention, a candidate, a question's answerability, a choice."""

    priors: LabelPriors
    mention: LinearModel
    candidate: LinearModel
    answerable: LinearModel
    choice: LinearModel
    min_confidence: float  # the answerability chosen on the training set; the min_confidence setting overrides it
    meta: dict[str, Any] = field(default_factory=dict)  # what it was trained on, when, and how it scored

    def save(self, path: Path) -> None:
        from rag.files import atomic_write_text

        data = {"format": FORMAT, "meta": self.meta, "min_confidence": round(self.min_confidence, 4),
                "priors": self.priors.to_dict(), "mention": self.mention.to_dict(),
                "candidate": self.candidate.to_dict(), "answerable": self.answerable.to_dict(),
                "choice": self.choice.to_dict()}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path | str | None = None) -> ReaderModel:
        path = Path(path) if path else BUNDLED
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"cannot read the reader model {path}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{path} is not a reader model (not JSON: {exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SettingsError(f"{path} is not a reader model of format {FORMAT}; retrain with `rag train-reader`")
        try:
            return cls(
                priors=LabelPriors.from_dict(data["priors"]),
                mention=LinearModel.from_dict(data["mention"], MENTION_FEATURES),
                candidate=LinearModel.from_dict(data["candidate"], CANDIDATE_FEATURES),
                answerable=LinearModel.from_dict(data["answerable"], ANSWERABLE_FEATURES),
                choice=LinearModel.from_dict(data["choice"], CHOICE_FEATURES),
                min_confidence=float(data["min_confidence"]),
                meta=dict(data.get("meta", {})),
            )
        except SettingsError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise SettingsError(f"{path} is a damaged reader model ({exc}); retrain with `rag train-reader`") from None
