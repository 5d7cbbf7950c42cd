"""The reader against the previous answerer, on the same index and the same retrieval, in one run.

    python benchmarks/reader.py ../shared/bench/rtqa2025 --use-dates
    python benchmarks/reader.py ../shared/bench/rtqa2022 --corpus ../shared/bench/rtqa2022/mini/corpus.jsonl.gz

"previous" is the answerer before the reader (sentences scored on the question's words and names, short answers
from patterns, abstention by support): `Citeline` with its answer stage swapped back, everything else equal.
Prints both `rag eval` tables and writes `--json OUT` with both summaries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    from rag.api import Citeline
    from rag.eval.evaluation import Evaluator, format_table, load_dataset
    from rag.settings import Settings

    class PreviousAnswerer(Citeline):
        """The answer stage as it was before the reader."""

        def _answer_items(self, question: str, hits: list, query_vector, mode: str, choices: Sequence[str],
                          k: int | None, parsed=None) -> Iterator:
            yield self.extractive().answer(question, hits[: self.top_k(k)], query_vector)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--use-dates", action="store_true")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--index-dir", type=Path, help="default: index/eval/<set name>, as `rag eval`")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    dataset = load_dataset(args.dataset, args.corpus, args.limit)
    settings = Settings.from_env().replace(index_dir=args.index_dir or Path("index") / "eval" / dataset.name)
    reader_app = Citeline(settings)
    reader_app.index(dataset.corpus, progress=True)
    previous_app = PreviousAnswerer(settings, embedder=reader_app.embedder)
    results = {}
    for name, app in (("reader", reader_app), ("previous", previous_app)):
        result = Evaluator(app, dataset, k=settings.retrieval.top_k, use_dates=args.use_dates).run(progress=True)
        results[name] = result["summary"]
        print(f"== {name}\n{format_table(result)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"dataset": dataset.name, "use_dates": args.use_dates, **results}, indent=1))
    keys = ("short_exact_match", "short_f1", "contains", "cited_contains", "choice_accuracy", "abstain_precision",
            "abstain_recall", "latency_answer_p50_ms")
    print(f"{'':24}{'reader':>10}{'previous':>10}")
    for key in keys:
        values = [results[n].get(key) for n in ("reader", "previous")]
        print(f"{key:24}" + "".join(f"{v:>10.3f}" if v is not None else f"{'-':>10}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
