"""The `rag` command: index articles, ask questions, list and show what is indexed."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
from pathlib import Path

from rag import __version__
from rag.errors import CitelineError
from rag.text.textsafe import encodable, printable

EXAMPLE_QUESTION = "Who was killed at Camp Taji?"
EXAMPLES = {
    "index": ["rag index seeds/", "rag index articles/ --prune", "rag index corpus.jsonl.gz --index-dir news-index",
              "rag index --rebuild articles/"],
    "ask": [f'rag ask "{EXAMPLE_QUESTION}"', 'rag ask "How many rockets were fired?" --json',
            'rag ask "Who was killed?" --since 2020-03-01 --until 2020-03-31 -k 8',
            'rag ask "What happened this week?" --as-of 2020-03-14',
            'rag ask "Which airline operated the flight?" --choices "Alaska Airlines" United Delta'],
    "eval": ["rag eval ../shared/bench/squad2-500 --json squad.json", "rag eval my-articles/ --limit 50"],
    "train-reader": ["rag train-reader ../shared/bench/rtqa2024 --use-dates --out rag/models/reader.json",
                     "rag train-reader my-articles/ --out my-reader.json"],
    "serve": ["rag serve", "rag serve --port 8080 --index-dir news-index"],
    "list": ["rag list", "rag list --json --index-dir news-index"],
    "show": ["rag show 000_9e313fdb7c8eba7c.txt --lines 10-14", "rag show d32a195d94f261d6"],
    "compact": ["rag compact", "rag compact --index-dir news-index"],
}


def _examples(command: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])


def _settings_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    _add_setting_flags(parent.add_argument_group("settings (also CITELINE_<NAME> environment variables)"), "settings")
    return parent


def _retrieval_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    _add_setting_flags(parent.add_argument_group("retrieval (also CITELINE_<NAME> environment variables)"),
                       "retrieval")
    _add_setting_flags(parent.add_argument_group("answering (also CITELINE_<NAME> environment variables)"),
                       "answering")
    return parent


def _add_setting_flags(group, name: str) -> None:
    """One flag per setting of the group, as its field in rag/settings.py describes it (name, help, choices)."""
    from rag.settings import Settings, cli_fields, field_type, flat_name

    values = Settings().flat()
    for f in cli_fields(name):
        spec, flat = f.metadata["cli"], flat_name(f)
        kind = field_type(f)
        options: dict = {"dest": flat, "help": spec["help"].format(default=values[flat], **values)}
        if kind in (int, float, Path):
            options["type"] = kind
        if spec["choices"]:
            options["choices"] = tuple(spec["choices"])
        group.add_argument(spec["flag"] or "--" + flat.replace("_", "-"), **options)


def _day(text: str):
    from rag.text.dates import to_date

    day = to_date(text)
    if day is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in the form YYYY-MM-DD")
    return day


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag",
        description="Citeline: ask questions of your news articles; every answer cites the lines it came from.",
        epilog=f'Start with: rag index seeds/  then  rag ask "{EXAMPLE_QUESTION}". The index lives in index/ unless'
        " --index-dir or CITELINE_INDEX_DIR names another folder.",
    )
    parser.add_argument("--version", action="version", version=f"citeline {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    settings, retrieval = _settings_parent(), _retrieval_parent()
    _add_index(commands, settings)
    _add_ask(commands, settings, retrieval)
    _add_eval(commands, settings, retrieval)
    _add_train(commands, settings, retrieval)
    serve = _command(commands, "serve", [settings], "open the chat UI in the browser (the same as python app.py)",
                     "Serve the chat UI. Without an index, seeds/ is indexed first.")
    _add_setting_flags(serve.add_argument_group("serving (also CITELINE_<NAME> environment variables)"), "serve")
    listing = _command(commands, "list", [settings], "list the indexed articles",
                       "List the indexed articles: id, date, chunks, source, title. The index in use is named on"
                       " standard error.")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    show = _command(commands, "show", [settings], "print an indexed article with line numbers",
                    "Print an indexed article with its line numbers, as citations count them; furniture lines are"
                    " marked ·.")
    show.add_argument("article", help="its id, its source path, or its file name, as `rag list` shows them")
    show.add_argument("--lines", help="only these lines, e.g. 10-14")
    _command(commands, "compact", [settings], "merge the index's segments into one",
             "Merge every segment of the index into one and drop removed articles for good. Updates merge small"
             " segments on their own; questions are answered from the previous segments while this runs.")
    return parser


def _command(commands, name: str, parents: list, help_text: str, description: str) -> argparse.ArgumentParser:
    return commands.add_parser(name, parents=parents, help=help_text, description=description,
                               epilog=_examples(name), formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_index(commands, settings: argparse.ArgumentParser) -> None:
    index = _command(commands, "index", [settings], "add articles (files or folders) to the index",
                     "Index .txt, .md, .html and .jsonl(.gz) files, and folders of them. Files that did not change"
                     " since the last run are not embedded again. Bad files are skipped with one line each.")
    index.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to index")
    index.add_argument("--prune", action="store_true", help="drop articles whose files no longer exist")
    index.add_argument("--rebuild", action="store_true",
                       help="start a new index from PATHs, replacing the old one once it is complete")
    index.add_argument("--profile", action="store_true", help="print where the time went, stage by stage")
    _add_setting_flags(index.add_argument_group("indexing (also CITELINE_<NAME> environment variables)"), "index")
    index.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_ask(commands, settings: argparse.ArgumentParser, retrieval: argparse.ArgumentParser) -> None:
    ask = _command(commands, "ask", [settings, retrieval], "answer a question with cited source lines",
                   "Answer from the indexed articles. Without an index (an absent or empty index folder), seeds/ is"
                   " indexed first.")
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


def _add_eval(commands, settings: argparse.ArgumentParser, retrieval: argparse.ArgumentParser) -> None:
    evaluate = _command(
        commands, "eval", [settings, retrieval], "score retrieval, answers and citations on a question set",
        "DATASET is a benchmark folder (a corpus.jsonl.gz and a questions.jsonl with gold_doc_ids, as in"
        " ../shared/bench) or your own folder of articles with a questions.jsonl whose lines hold \"question\""
        ' and optionally "answers", "sources" (file names) and "lines" (12, "12-14" or [12, 14]). The data'
        " set's index is built once under index/eval/ and reused while the corpus is unchanged.",
    )
    _add_question_set(evaluate)
    evaluate.add_argument("--json", type=Path, dest="json_out", metavar="OUT",
                          help="write the summary and every question's record to OUT")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_question_set(command: argparse.ArgumentParser) -> None:
    """The arguments that name a question set, shared by `rag eval` and `rag train-reader`."""
    command.add_argument("dataset", type=Path, metavar="DATASET", help="the folder of the question set")
    command.add_argument("--corpus", type=Path, help="pair the questions with this corpus file instead")
    command.add_argument("--limit", type=int, help="only the first N questions")
    command.add_argument("--use-dates", action="store_true",
                         help="ask each question as of its own 'date' (benchmark sets carry one)")


def _add_train(commands, settings: argparse.ArgumentParser, retrieval: argparse.ArgumentParser) -> None:
    train = _command(
        commands, "train-reader", [settings, retrieval], "train the reader's scorers on a question set",
        "Fit the reader (short answers, its confidence, multiple choice) on DATASET, a question set as for `rag eval`"
        " whose questions have answers, and write the model as JSON; answer with it through --reader-model or"
        " CITELINE_READER_MODEL. Needs scikit-learn (pip install -e '.[train]').",
    )
    _add_question_set(train)
    train.add_argument("--out", type=Path, help="where to write the model (default: reader.json in the index folder)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _settings(args: argparse.Namespace):
    from rag.settings import Settings, cli_fields, flat_name

    names = [flat_name(f) for f in cli_fields()]
    return Settings.from_env(**{name: getattr(args, name, None) for name in names})


def _err(message: str) -> None:
    """Standard error, safe for a terminal: user text in a message (a file name, a question) may hold escapes."""
    print(encodable(printable(message)), file=sys.stderr)


def _out(text: str = "") -> None:
    """Standard output, safe for a terminal: no escape sequences or control characters from questions or articles."""
    print(encodable(printable(text)))


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


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
        _out(f"{app.index_dir}: up to date ({report.articles_total} articles, {report.chunks_total} chunks;"
             f" {report.files_unchanged} unchanged files, nothing embedded)")
    else:
        _out(
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
    """Index seeds/ first, but only into an absent or empty index folder: a folder holding what is left of an
    index (its manifest deleted) is never written over."""
    from rag.index.store import check_no_stray_index

    if app.has_index():
        return
    check_no_stray_index(app.index_dir)
    seeds = app.settings.seeds_dir
    if not seeds.is_dir():
        raise CitelineError(f"there is no index in {app.index_dir}; build one with `rag index PATH...`")
    _err(f"No index in {app.index_dir}/ yet: indexing {seeds}/ first.")
    report = app.index([seeds])
    for path, reason in report.skipped:
        _err(f"skipped {path}: {reason}")


def _which_index(app) -> str:
    """The index in use, named on standard error: `rag list` and `rag ask` otherwise silently read ./index."""
    stats = app.stats()
    return f"Index: {stats.index_dir} ({_plural(stats.articles, 'article')}; --index-dir or" \
           " CITELINE_INDEX_DIR chooses another)"


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.answer import nlp_process

    nlp_process.start()  # spaCy's import and load, the longest part of a cold question, run beside the rest
    from rag.api import Citeline

    app = Citeline(_settings(args))
    question = app.check_question(args.question)
    _ensure_index(app)
    _err(_which_index(app))
    sources = tuple(_source_prefix(s) for s in args.source)
    answer = app.ask(question, since=args.since, until=args.until, sources=sources, as_of=args.as_of,
                     choices=args.choices)
    if args.json:
        print(encodable(json.dumps(answer.to_dict(), ensure_ascii=False)))
        return 0
    if answer.choices:
        _out(f"Choice: {answer.choice}" if answer.choice else "Choice: none of them is supported")
    elif answer.short_answer:
        _out(f"Short answer: {answer.short_answer}")
    _out(answer.answer)
    if answer.note:
        _out(f"({answer.note})")
    if answer.citations:
        _out()
        _out("Closest passages:" if answer.abstained else "Sources:")
        for c in answer.citations:
            dated = f" ({c.published})" if c.published else ""
            _out(f"[{c.n}] {c.source}, {c.lines}: {c.quote.strip()}")
            if c.title:
                _out(f"    {c.title}{dated}")
    t = answer.timings_ms
    _err(f"retrieve {t['retrieve']:.0f} ms, answer {t['answer']:.0f} ms")
    return 0


def _source_prefix(path: str) -> str:
    """Sources are stored as `rag index` displayed them: relative to the working folder when below it."""
    from rag.index.indexing import display_path

    return display_path(Path(path))


def _dataset_app(args: argparse.Namespace):
    """A question set and a Citeline on its index (built once under index/eval/<name>/ and reused)."""
    from rag.api import Citeline
    from rag.eval.evaluation import load_dataset

    if args.limit is not None and args.limit < 1:
        raise CitelineError("--limit must be at least 1")
    dataset = load_dataset(args.dataset, args.corpus, args.limit)
    for note in dataset.notes:
        _err(f"note: {note}")
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
    from rag.eval.evaluation import Evaluator, format_table

    dataset, app = _dataset_app(args)
    result = Evaluator(app, dataset, k=app.settings.retrieval.top_k, use_dates=args.use_dates).run(
        progress=not args.quiet)
    print(format_table(result))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        _err(f"wrote {args.json_out}")
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from rag.eval.reader_training import ReaderTrainer

    dataset, app = _dataset_app(args)
    trainer = ReaderTrainer(app, dataset, passages=app.settings.reader.passages, use_dates=args.use_dates)
    examples = trainer.collect(progress=not args.quiet, log=_err)
    model = trainer.fit(examples, log=_err)
    out = args.out or app.index_dir / "reader.json"
    model.save(out)
    _out(f"wrote {out}; answer with it: CITELINE_READER_MODEL={out} rag ask ... (or --reader-model {out})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from rag.api import Citeline
    from rag.apps.ui import build_ui, launch

    app = Citeline(_settings(args))
    _ensure_index(app)
    app.warm_up()
    host, port = app.settings.server.host, app.settings.server.port
    if host not in ("127.0.0.1", "localhost", "::1"):
        _err(f"warning: listening on {host}: anyone who can reach this machine can read and change the index")
    _err(f"Citeline is answering on http://{host}:{port} (Ctrl+C to stop)")
    launch(build_ui(app), host, port, max_file_size=app.settings.limits.max_upload_bytes, quiet=True)
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from rag.api import Citeline

    app = Citeline(_settings(args))
    before = app.stats().segments
    report = app.compact()
    after = app.stats().segments
    _out(f"{app.index_dir}: {report.articles_total} articles, {report.chunks_total} chunks; "
         + (f"{before} segments merged into {after} in {report.seconds.get('total', 0.0):.1f} s" if report.written
            else f"{after} segment, nothing to merge"))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rag.api import Citeline

    app = Citeline(_settings(args))
    _err(_which_index(app))
    for article in app.articles():
        record = {"id": article.id, "source": article.source, "title": article.title,
                  "published": article.published, "chunks": article.chunks}
        if args.json:
            print(encodable(json.dumps(record, ensure_ascii=False)))
        else:
            _out(f"{article.id}  {article.published or '----------'}  {article.chunks:4d} chunks"
                 f"  {article.source}  {article.title[:80]}")
    return 0


def _line_range(text: str | None, count: int) -> tuple[int, int]:
    if not text:
        return 1, count
    try:
        a, _, b = text.partition("-")
        first, last = int(a), int(b or a)
    except ValueError:
        raise CitelineError(f"--lines takes FIRST-LAST, e.g. 10-14, not {text!r}") from None
    if not 1 <= first <= last:
        raise CitelineError(f"--lines takes FIRST-LAST with 1 <= FIRST <= LAST, e.g. 10-14, not {text!r}")
    if first > count:
        raise CitelineError(f"the article has {count} lines; --lines {text} is past its end")
    return first, min(last, count)


def cmd_show(args: argparse.Namespace) -> int:
    from rag.api import Citeline

    app = Citeline(_settings(args))
    article = app.article(args.article)
    lines = article.lines
    first, last = _line_range(args.lines, len(lines))
    furniture = set(article.furniture)
    for number in range(first, last + 1):
        mark = "·" if number in furniture else " "
        _out(f"{number:6d}{mark}\t{lines[number - 1]}")
    return 0


COMMANDS = {"index": cmd_index, "ask": cmd_ask, "eval": cmd_eval, "train-reader": cmd_train_reader,
            "serve": cmd_serve, "list": cmd_list, "show": cmd_show, "compact": cmd_compact}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    with contextlib.suppress(AttributeError, ValueError):  # text that cannot be encoded is replaced, not fatal
        sys.stdout.reconfigure(errors="replace")
    try:
        return _run(args)
    finally:
        if argv is None:
            # A one-shot process: the collector's last pass at exit, over spaCy's and the index's objects, took
            # 0.6 s of a 3 s cold `rag ask` here. Frozen objects are left to the operating system to free.
            gc.freeze()


def _run(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except CitelineError as exc:
        _err(f"rag {args.command}: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted; the index in force is unchanged")
        return 130
    except BrokenPipeError:  # `rag list | head`: the reader has gone, which is no error
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: one line, and the traceback only when asked for
        if os.environ.get("CITELINE_DEBUG"):
            raise
        _err(f"rag {args.command}: internal error ({type(exc).__name__}: {exc}); this is a bug, please report it"
             " (CITELINE_DEBUG=1 shows the traceback)")
        return 1
