"""The `rag` command: index articles, ask questions, list and show what is indexed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rag import __version__
from rag.errors import CitelineError

EXAMPLE_QUESTION = "Who was killed at Camp Taji?"


def _settings_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("settings (also CITELINE_<NAME> environment variables)")
    group.add_argument("--index-dir", type=Path, help="where the index lives (default: index/)")
    group.add_argument("--embedder", help="the bundled all-MiniLM-L6-v2 (default) or a local model folder")
    group.add_argument("--embed-backend", choices=("onnx-int8", "onnx", "torch"),
                       help="how vectors are computed: int8 ONNX (default, fastest), float ONNX, or PyTorch")
    group.add_argument("--vector-store", choices=("faiss", "milvus"),
                       help="where a new index keeps its vectors: FAISS files in the index folder (default) or Milvus;"
                       " an existing index is read from the store its manifest names")
    group.add_argument("--milvus-uri", help="http://host:19530 for a Milvus server, or a Milvus Lite file ending in .db"
                       " (default: milvus.db in the index folder); the token comes from CITELINE_MILVUS_TOKEN")
    group.add_argument("--milvus-collection", help="prefix of this index's Milvus collections (default citeline)")
    return parent


def _retrieval_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("retrieval (also CITELINE_<NAME> environment variables)")
    group.add_argument("-k", type=int, dest="top_k", help="passages to retrieve (default 5)")
    group.add_argument("--mode", dest="retrieval_mode", choices=("hybrid", "dense", "bm25"),
                       help="dense + BM25 (default), or one of them alone")
    group.add_argument("--fusion", choices=("weighted", "rrf"), help="how dense and BM25 are combined")
    group.add_argument("--dense-weight", type=float, help="dense share of a weighted fusion, 0..1")
    group.add_argument("--reranker", help="folder of a sentence-transformers CrossEncoder to rerank with")
    group.add_argument("--answer-embed-sentences", type=int,
                       help="sentences per answer scored by embedding (default 0: words, names and chunk similarity)")
    group.add_argument("--min-support", type=float,
                       help="support score below which a sentence answer (no short answer asked for) abstains")
    group.add_argument("--min-confidence", type=float,
                       help="the reader's confidence below which it answers 'not in the indexed articles'"
                       " (default: the threshold chosen with its model on RealTimeQA 2024)")
    group.add_argument("--reader-passages", type=int, help="passages the reader reads (default 10)")
    group.add_argument("--reader-model", help="a reader model trained with `rag train-reader` (default: the bundled one)")
    group.add_argument("--answer-mode", choices=("extractive", "llm"),
                       help="extractive sentences (default, no model) or a chat model's answer, checked line by line")
    group.add_argument("--llm-backend", choices=("llama-cpp", "openai", "ollama"), help="where the chat model runs")
    group.add_argument("--llm-model", help="GGUF path (llama-cpp) or model name (openai, ollama)")
    group.add_argument("--llm-url", help="base URL of an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    return parent


def _day(text: str):
    from rag.dates import to_date

    day = to_date(text)
    if day is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in the form YYYY-MM-DD")
    return day


def build_parser() -> argparse.ArgumentParser:
    settings = _settings_parent()
    retrieval = _retrieval_parent()
    parser = argparse.ArgumentParser(
        prog="rag",
        description="Citeline: ask questions of your news articles; every answer cites the lines it came from.",
        epilog=f'Start with: rag index seeds/  then  rag ask "{EXAMPLE_QUESTION}"',
    )
    parser.add_argument("--version", action="version", version=f"citeline {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    index = commands.add_parser(
        "index", parents=[settings], help="add articles (files or folders) to the index",
        description="Index .txt, .md, .html and .jsonl(.gz) files, and folders of them. Files that did not change"
        " since the last run are not embedded again.",
    )
    index.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to index")
    index.add_argument("--prune", action="store_true", help="drop articles whose files no longer exist")
    index.add_argument("--rebuild", action="store_true",
                       help="start a new index from PATHs, replacing the old one once it is complete")
    index.add_argument("--dense-chunks", type=int,
                       help="chunks per article, from the top, that are embedded; 0 for all (default 4)")
    index.add_argument("--profile", action="store_true", help="print where the time went, stage by stage")
    index.add_argument("--chunk-tokens", type=int, help="chunk size in embedder tokens, title included (default 160)")
    index.add_argument("--chunk-overlap", type=int, dest="chunk_overlap_tokens",
                       help="tokens shared by neighbouring chunks (default 64)")
    index.add_argument("--ann-threshold", type=int,
                       help="chunks above which the vector index is approximate (HNSW, recall checked; default 25000)")
    index.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    ask = commands.add_parser(
        "ask", parents=[settings, retrieval], help="answer a question with cited source lines",
        description="Answer from the indexed articles. Without an index, seeds/ is indexed first.",
    )
    ask.add_argument("question", help=f'the question, e.g. "{EXAMPLE_QUESTION}"')
    ask.add_argument("--json", action="store_true", help="print one JSON object (the scripting contract)")
    ask.add_argument("--since", type=_day, help="only articles published on or after YYYY-MM-DD")
    ask.add_argument("--until", type=_day, help="only articles published on or before YYYY-MM-DD")
    ask.add_argument("--source", action="append", default=[], metavar="PATH",
                     help="only articles from this file or folder (repeatable)")
    ask.add_argument("--as-of", type=_day, help="the date the question is asked (default: today); news near it"
                     " ranks higher, and 'this week' or 'last month' in the question are read against it")
    ask.add_argument("--choices", nargs="+", metavar="CHOICE",
                     help="answer a multiple-choice question with the choice the cited lines support, or none,"
                     ' e.g. --choices Ford Honda "Alaska Airlines"')

    evaluate = commands.add_parser(
        "eval", parents=[settings, retrieval], help="score retrieval, answers and citations on a question set",
        description="DATASET is a benchmark folder (a corpus.jsonl.gz and a questions.jsonl with gold_doc_ids,"
        " as in ../shared/bench) or your own folder of articles with a questions.jsonl whose lines hold"
        ' "question" and optionally "answers", "sources" (file names) and "lines" (12, "12-14" or [12, 14]).'
        " The data set's index is built once under index/eval/ and reused while the corpus is unchanged.",
    )
    evaluate.add_argument("dataset", type=Path, metavar="DATASET", help="the folder of the question set")
    evaluate.add_argument("--corpus", type=Path, help="pair the questions with this corpus file instead")
    evaluate.add_argument("--limit", type=int, help="only the first N questions")
    evaluate.add_argument("--json", type=Path, dest="json_out", metavar="OUT",
                          help="write the summary and every question's record to OUT")
    evaluate.add_argument("--use-dates", action="store_true",
                          help="ask each question as of its own 'date' (benchmark sets carry one)")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    train = commands.add_parser(
        "train-reader", parents=[settings, retrieval], help="train the reader's scorers on a question set",
        description="Fit the reader (short answers, confidence, choices) on DATASET, a question set as for `rag eval`"
        " whose questions have answers, and write the model as JSON. The bundled model was trained with:"
        " rag train-reader ../shared/bench/rtqa2024 --use-dates --out rag/models/reader.json",
    )
    train.add_argument("dataset", type=Path, metavar="DATASET", help="the folder of the question set")
    train.add_argument("--corpus", type=Path, help="pair the questions with this corpus file instead")
    train.add_argument("--limit", type=int, help="only the first N questions")
    train.add_argument("--use-dates", action="store_true", help="ask each question as of its own 'date'")
    train.add_argument("--out", type=Path, help="where to write the model (default: reader.json in the index folder)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    serve = commands.add_parser(
        "serve", parents=[settings], help="open the chat UI in the browser (the same as python app.py)",
        description="Serve the chat UI. Without an index, seeds/ is indexed first.",
    )
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")

    listing = commands.add_parser("list", parents=[settings], help="list the indexed articles")
    listing.add_argument("--json", action="store_true", help="print JSON lines")

    show = commands.add_parser("show", parents=[settings], help="print an indexed article with line numbers")
    show.add_argument("article", help="its source path (as `rag list` shows it) or its id")
    show.add_argument("--lines", help="only these lines, e.g. 10-14")
    return parser


def _settings(args: argparse.Namespace):
    from rag.settings import Settings

    names = ("index_dir", "embedder", "embed_backend", "dense_chunks", "chunk_tokens", "chunk_overlap_tokens",
             "top_k", "min_support", "answer_embed_sentences",
             "retrieval_mode", "fusion", "dense_weight", "reranker", "answer_mode", "llm_backend", "llm_model",
             "llm_url", "vector_store", "milvus_uri", "milvus_collection", "ann_threshold", "min_confidence",
             "reader_passages", "reader_model")
    return Settings.from_env(**{name: getattr(args, name, None) for name in names})


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_index(args: argparse.Namespace) -> int:
    from rag.api import Citeline

    app = Citeline(_settings(args))
    report = app.index(args.paths, prune=args.prune, rebuild=args.rebuild, progress=not args.quiet)
    for path, reason in report.skipped:
        _err(f"skipped {path}: {reason}")
    seconds = report.seconds.get("total", 0.0)
    rate = report.chunks_embedded / report.seconds["embed"] if report.seconds.get("embed") else 0.0
    if not report.written and report.files_loaded == 0 and report.files_unchanged == 0:
        reason = ("no .txt, .md, .html or .jsonl files were found" if report.files_seen == 0
                  else "every file was skipped")
        outcome = "the index is unchanged" if app.has_index() else "no index was written"
        _err(f"nothing to index: {reason}; {outcome}")
        return 1
    if not report.written:
        print(f"{app.index_dir}: up to date ({report.articles_total} articles, {report.chunks_total} chunks;"
              f" {report.files_unchanged} unchanged files, nothing embedded)")
    else:
        print(
            f"{app.index_dir}: {report.articles_total} articles, {report.chunks_total} chunks"
            f" (+{report.articles_added} added, -{report.articles_removed} removed,"
            f" {report.files_unchanged} unchanged files); embedded {report.chunks_embedded} chunks"
            f" in {seconds:.1f} s" + (f" ({rate:.0f} chunks/s)" if rate else "")
        )
    if getattr(args, "profile", False):
        _print_profile(report)
    return 0


def _print_profile(report) -> None:
    """Where the time went: the stages of the build and the process's peak memory."""
    import resource

    total = report.seconds.get("total", 0.0) or 1e-9
    print("stage        seconds   share")
    for stage, seconds in report.seconds.items():
        if stage != "total":
            print(f"{stage:<12} {seconds:7.1f}  {100 * seconds / total:5.1f}%")
    print(f"{'total':<12} {total:7.1f}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory  {peak_mib:7.0f} MiB; chunks embedded {report.chunks_embedded} of {report.chunks_total}")


def _ensure_index(app) -> None:
    if app.has_index():
        return
    seeds = app.settings.seeds_dir
    if not seeds.is_dir():
        raise CitelineError(f"there is no index in {app.index_dir}; build one with `rag index PATH...`")
    _err(f"No index in {app.index_dir}/ yet: indexing {seeds}/ first.")
    report = app.index([seeds])
    for path, reason in report.skipped:
        _err(f"skipped {path}: {reason}")


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.api import Citeline

    app = Citeline(_settings(args))
    question = app.check_question(args.question)
    _ensure_index(app)
    sources = tuple(_source_prefix(s) for s in args.source)
    answer = app.ask(question, since=args.since, until=args.until, sources=sources, as_of=args.as_of,
                     choices=args.choices)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
        return 0
    if answer.choices:
        print(f"Choice: {answer.choice}" if answer.choice else "Choice: none of them is supported")
    elif answer.short_answer:
        print(f"Short answer: {answer.short_answer}")
    print(answer.answer)
    if answer.note:
        print(f"({answer.note})")
    if answer.citations:
        print()
        print("Closest passages:" if answer.abstained else "Sources:")
        for c in answer.citations:
            dated = f" ({c.published})" if c.published else ""
            print(f"[{c.n}] {c.source}, lines {c.line_start}-{c.line_end}: {c.quote.strip()}")
            if c.title:
                print(f"    {c.title}{dated}")
    t = answer.timings_ms
    _err(f"retrieve {t['retrieve']:.0f} ms, answer {t['answer']:.0f} ms")
    return 0


def _source_prefix(path: str) -> str:
    """Sources are stored as `rag index` displayed them: relative to the working folder when below it."""
    from rag.indexing import display_path

    return display_path(Path(path))


def _dataset_app(args: argparse.Namespace):
    """A question set and a Citeline on its index (built once under index/eval/<name>/ and reused)."""
    from rag.api import Citeline
    from rag.evaluation import load_dataset

    if args.limit is not None and args.limit < 1:
        raise CitelineError("--limit must be at least 1")
    dataset = load_dataset(args.dataset, args.corpus, args.limit)
    settings = _settings(args)
    if args.index_dir is None and not os.environ.get("CITELINE_INDEX_DIR"):
        settings = settings.replace(index_dir=Path("index") / "eval" / dataset.name)
    app = Citeline(settings)
    _err(f"{dataset.name}: {len(dataset.questions)} questions; index in {app.index_dir}")
    report = app.index(dataset.corpus, progress=not args.quiet)
    if report.written:
        _err(f"indexed {report.articles_total} articles ({report.chunks_total} chunks)")
    else:
        _err(f"the index matches the corpus: reused ({report.articles_total} articles, {report.chunks_total} chunks)")
    return dataset, app


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluation import Evaluator, format_table

    dataset, app = _dataset_app(args)
    result = Evaluator(app, dataset, k=app.settings.top_k, use_dates=args.use_dates).run(progress=not args.quiet)
    print(format_table(result))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        _err(f"wrote {args.json_out}")
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from rag.reader_training import ReaderTrainer

    dataset, app = _dataset_app(args)
    trainer = ReaderTrainer(app, dataset, passages=app.settings.reader_passages, use_dates=args.use_dates)
    examples = trainer.collect(progress=not args.quiet, log=_err)
    model = trainer.fit(examples, log=_err)
    out = args.out or app.index_dir / "reader.json"
    model.save(out)
    print(f"wrote {out}; answer with it: CITELINE_READER_MODEL={out} rag ask ... (or --reader-model {out})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from rag.api import Citeline
    from rag.ui import build_ui, launch

    app = Citeline(_settings(args))
    _ensure_index(app)
    app.warm_up()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        _err(f"warning: listening on {args.host}: anyone who can reach this machine can read and change the index")
    _err(f"Citeline is answering on http://{args.host}:{args.port} (Ctrl+C to stop)")
    launch(build_ui(app), args.host, args.port, quiet=True)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rag.api import Citeline

    app = Citeline(_settings(args))
    reader = app.reader()
    counts = {article_id: len(rows) for article_id, rows in reader.article_rows().items()}
    for article in reader.articles():
        record = {"id": article.id, "source": article.source, "title": article.title,
                  "published": article.published, "chunks": counts.get(article.id, 0)}
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(f"{article.id}  {article.published or '----------'}  {counts.get(article.id, 0):4d} chunks"
                  f"  {article.source}  {article.title[:80]}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from rag.api import Citeline

    app = Citeline(_settings(args))
    reader = app.reader()
    matches = [a for a in reader.articles() if args.article in (a.id, a.source, a.doc_id)]
    if not matches:
        raise CitelineError(f"no indexed article is {args.article!r}; `rag list` shows what is indexed")
    article = matches[0]
    lines = article.lines
    first, last = 1, len(lines)
    if args.lines:
        try:
            a, _, b = args.lines.partition("-")
            first, last = int(a), int(b or a)
        except ValueError:
            raise CitelineError(f"--lines takes FIRST-LAST, e.g. 10-14, not {args.lines!r}") from None
    furniture = set(article.furniture)
    for number in range(max(1, first), min(last, len(lines)) + 1):
        mark = "·" if number in furniture else " "
        print(f"{number:6d}{mark}\t{lines[number - 1]}")
    return 0


COMMANDS = {"index": cmd_index, "ask": cmd_ask, "eval": cmd_eval, "train-reader": cmd_train_reader,
            "serve": cmd_serve, "list": cmd_list, "show": cmd_show}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except CitelineError as exc:
        _err(f"rag {args.command}: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted; the index in force is unchanged")
        return 130
