"""The bad inputs of benchmarks/bad_inputs.py: files, questions, options, settings and damaged indexes, on the
`rag` command (CLI), the Python API (API) and the chat's HTTP API (UI). Each case says what must happen."""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bad_inputs import (
    QUESTION,
    ROOT,
    Result,
    Run,
    Server,
    TimedOut,
    Workspace,
    indexed_ids,
    snapshot,
    tracebacky,
    with_time_limit,
)

Maker = Callable[[], bytes]


# -- contents --------------------------------------------------------------------------------------------------------
def text(body: str) -> Maker:
    return lambda: body.encode("utf-8")


def article(title: str, sentence: str) -> str:
    return f"{title}\n\n{sentence}\n"


def repeat(unit: bytes, size: int) -> Maker:
    return lambda: unit * (size // len(unit))


def jsonl(*records: object) -> Maker:
    return lambda: "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode("utf-8")


def write_gzip_stream(path: Path, pieces) -> None:
    with gzip.open(path, "wb", compresslevel=9) as handle:
        for piece in pieces:
            handle.write(piece)


def one_long_line(megabytes: int):
    yield b'{"text": "'
    block = b"a" * (1 << 20)
    for _ in range(megabytes):
        yield block
    yield b'"}\n'


def many_lines(count: int, line: Callable[[int], bytes]):
    batch = []
    for n in range(count):
        batch.append(line(n))
        if len(batch) == 10_000:
            yield b"".join(batch)
            batch = []
    yield b"".join(batch)


HOSTILE_HTML = ("<html><head><title>t</title></head><body>" + "<div>" * 200_000 + "deep" + "</div>" * 200_000
                + "</body></html>")
UNDATED_HTML = """<html><head><title>Harwick bridge reopens</title></head><body><article>
<h1>Harwick bridge reopens</h1><p>The old bridge of Harwick reopened after repairs that began in 2019, the council
said, and traffic was back to normal by the evening.</p><p>Repairs cost 2 million pounds, twice what was planned
in 2018.</p></article></body></html>"""


# -- the CLI -------------------------------------------------------------------------------------------------------
@dataclass
class CliCase:
    """`rag ARGS` (prepared by `setup`, which also says which index to watch and how), the exit statuses that
    are right, and words the output must hold."""

    name: str
    setup: Callable[[Workspace], tuple[list, Path, str]]  # argv, index dir, "grow" | "frozen"
    codes: tuple[int, ...]
    hints: tuple[str, ...] = ()
    user: str = ""
    cwd_root: bool = False  # run from the project folder, where seeds/ is
    env: dict[str, str] | None = None
    prefix: Callable[[Workspace, Path], tuple[str, ...]] | None = None  # a command to run `rag` under


def index_file(filename: str, make: Maker) -> Callable[[Workspace], tuple[list, Path, str]]:
    def setup(ws: Workspace):
        path = ws.path(filename)
        path.write_bytes(make())
        return ["index", str(path), "--index-dir", str(ws.live), "-q"], ws.live, "grow"

    return setup


def skipped(name: str, filename: str, make: Maker, reason: str) -> CliCase:
    return CliCase(f"index: {name}", index_file(filename, make), (1,),
                   ("skipped", reason, "every file was skipped; the index is unchanged"))


def accepted(name: str, filename: str, make: Maker, *hints: str) -> CliCase:
    return CliCase(f"index: {name}", index_file(filename, make), (0,), ("+1 added", *hints))


def special(name: str, build: Callable[[Path], list[Path]], codes: tuple[int, ...], *hints: str) -> CliCase:
    """A folder holding odd things (FIFOs, links, devices), given to `rag index`."""

    def setup(ws: Workspace):
        folder = ws.path("special")
        folder.mkdir()
        paths = build(folder)
        return ["index", *map(str, paths), "--index-dir", str(ws.live), "-q"], ws.live, "grow"

    return CliCase(f"index: {name}", setup, codes, hints)


def fifo_in_folder(folder: Path) -> list[Path]:
    os.mkfifo(folder / "pipe.txt")
    (folder / "good.txt").write_text(article("Fifo folder", "A good article sits beside a FIFO in Harwick."))
    return [folder]


def fifo_alone(folder: Path) -> list[Path]:
    os.mkfifo(folder / "pipe.txt")
    return [folder / "pipe.txt"]


def link_to(target: str, name: str) -> Callable[[Path], list[Path]]:
    def build(folder: Path) -> list[Path]:
        (folder / name).symlink_to(target)
        return [folder]

    return build


def link_loop(folder: Path) -> list[Path]:
    (folder / "a.txt").symlink_to(folder / "b.txt")
    (folder / "b.txt").symlink_to(folder / "a.txt")
    return [folder]


def folder_named_txt(folder: Path) -> list[Path]:
    (folder / "notes.txt").mkdir()
    return [folder / "notes.txt"]


def undecodable_name(folder: Path) -> list[Path]:
    fd = os.open(os.fsencode(folder) + b"/caf\xe9.txt", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"Cafe\n\nA cafe opened in Harwick.\n")
    os.close(fd)
    return [folder]


def escape_name(folder: Path) -> list[Path]:
    (folder / "\x1b[31mred\x1b[0m.txt").write_text(article("Escapes in a name", "The file name of this article"
                                                          " in Harwick holds terminal escapes."))
    return [folder / "\x1b[31mred\x1b[0m.txt"]


def cut_gzip() -> bytes:
    """A .jsonl.gz whose compressed stream stops half way."""
    whole = gzip.compress(b"".join(b'{"text": "%s"}\n' % os.urandom(30).hex().encode() for _ in range(2000)))
    return whole[: len(whole) // 2]


def bomb_setup(pieces: Callable[[], object], filename: str = "bomb.jsonl.gz"):
    def setup(ws: Workspace):
        path = ws.path(filename)
        write_gzip_stream(path, pieces())
        return ["index", str(path), "--index-dir", str(ws.live), "-q"], ws.live, "grow"

    return setup


def file_cases() -> list[CliCase]:
    mb = 1_000_000
    return [
        skipped("empty .txt", "empty.txt", text(""), "empty"),
        skipped("white space only", "blank.txt", text(" \n\n\t \n"), "empty"),
        skipped("PNG named .txt", "photo.txt", repeat(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 4000), "binary"),
        skipped("random bytes", "noise.txt", lambda: bytes(range(128, 256)) * 64 + b"\x01\x02\x03" * 300,
                "not UTF-8"),
        skipped("NUL bytes only", "nul.txt", repeat(b"\x00", 4096), "binary"),
        skipped("UTF-16 BOM, odd bytes", "odd16.txt", lambda: b"\xff\xfeH\x00i\x00!", "UTF-16"),
        skipped("6 MB .txt (over the article limit)", "huge.txt", repeat(b"Harwick news line.\n", 6 * mb),
                "too large"),
        skipped("6 MB .html", "huge.html", repeat(b"<p>Harwick news paragraph.</p>\n", 6 * mb), "too large"),
        skipped("HTML of scripts only", "script.html",
                text("<html><body><script>var a = 1;</script><style>p{}</style></body></html>"), "no article text"),
        skipped("binary .html", "broken.html", repeat(b"\xff\xfe\x00\x00garbage", 2000), "not"),
        skipped("empty .md", "empty.md", text(""), "empty"),
        CliCase("index: PDF", index_file("paper.pdf", text("%PDF-1.4 fake")), (1,), ("not a supported type",)),
        CliCase("index: no extension", index_file("README", text("hello")), (1,), ("not a supported type",)),
        skipped(".jsonl of broken JSON", "bad.jsonl", jsonl("{not json", "[1, 2", '{"text": '), "no articles"),
        skipped(".jsonl without text", "notext.jsonl", jsonl({"id": "a"}, {"title": "x"}), "no articles"),
        skipped(".jsonl text not a string", "numbers.jsonl", jsonl({"text": 5}, {"text": ["a"]}, {"text": None}),
                "no articles"),
        skipped(".jsonl nested 100k deep", "deep.jsonl", lambda: b"[" * 100_000 + b"]" * 100_000 + b"\n",
                "no articles"),
        skipped(".jsonl not UTF-8", "latin.jsonl", lambda: b'{"text": "caf\xe9"}\n', "not UTF-8"),
        skipped(".jsonl.gz that is not gzip", "fake.jsonl.gz", text('{"text": "plain"}\n'), "gzip"),
        skipped(".jsonl.gz cut short", "cut.jsonl.gz", lambda: cut_gzip(), "gzip"),
        skipped("empty .jsonl", "empty.jsonl", text(""), "empty"),
        skipped(".jsonl of empty texts", "blank.jsonl", jsonl({"text": ""}, {"text": "   \n "}), "no articles"),
        accepted("UTF-16 LE with BOM", "utf16le.txt",
                 lambda: article("UTF-16 LE article", "The Harwick choir sang in UTF-16 little endian.")
                 .encode("utf-16")),
        accepted("UTF-16 BE with BOM", "utf16be.txt",
                 lambda: b"\xfe\xff" + article("UTF-16 BE article", "The Harwick band played big endian.")
                 .encode("utf-16-be")),
        accepted("UTF-32 with BOM", "utf32.md",
                 lambda: article("# UTF-32 article", "The Harwick library opened a UTF-32 wing.").encode("utf-32")),
        accepted("UTF-8 with BOM .jsonl", "bom.jsonl",
                 lambda: b"\xef\xbb\xbf" + json.dumps({"id": "b1", "text": "BOM line\n\nA BOM came first in"
                                                       " Harwick."}).encode() + b"\n"),
        accepted(".jsonl with odd field types", "odd.jsonl",
                 jsonl({"id": {"x": 1}, "title": ["t"], "published": 20200101, "url": None,
                        "text": "Odd fields\n\nThe Harwick ferry ran with odd field types."}, "garbage line")),
        accepted(".jsonl with a 6 MB line and a good one", "longline.jsonl",
                 lambda: b'{"text": "' + b"a" * 6_000_000 + b'"}\n'
                 + json.dumps({"text": "Short line\n\nA short article about the Harwick mill."}).encode() + b"\n",
                 "longer than"),
        accepted("HTML without date metadata", "undated.html", text(UNDATED_HTML)),
        skipped("200,000 nested <div>s", "deep.html", text(HOSTILE_HTML), "no article text"),
        accepted("NUL and ESC inside a .jsonl text", "controls.jsonl",
                 jsonl({"text": "Controls\n\nThe Harwick \u0000mayor \u001b[31msaid\u001b[0m hello."})),
    ]


def special_cases() -> list[CliCase]:
    return [
        special("a FIFO named .txt in a folder", fifo_in_folder, (0,), "not a regular file (a FIFO"),
        special("a FIFO named .txt, alone", fifo_alone, (1,), "not a regular file"),
        special("a link to /dev/zero named .txt", link_to("/dev/zero", "zero.txt"), (1,), "character device"),
        special("a link to /dev/urandom named .md", link_to("/dev/urandom", "random.md"), (1,), "character device"),
        special("a dangling link", link_to("/nonexistent/file.txt", "gone.txt"), (1,), "cannot be read"),
        special("a loop of links", link_loop, (1,), "cannot be read"),
        special("a folder named notes.txt", folder_named_txt, (1,), "nothing to index"),
        special("a file name that is not UTF-8", undecodable_name, (1,), "not valid UTF-8"),
        special("a file name holding terminal escapes", escape_name, (0,), "+1 added"),
        special("a path that does not exist", lambda folder: [folder / "missing.txt"], (1,), "no such file"),
        CliCase("index: .jsonl.gz bomb, one 300 MB line", bomb_setup(lambda: one_long_line(300)), (1,),
                ("skipped", "once decompressed")),
        CliCase("index: .jsonl.gz bomb, 250 MB of bad lines", bomb_setup(
            lambda: many_lines(12_000_000, lambda n: b'{"x": "' + b"y" * 8 + b'"}\n')), (1,),
            ("once decompressed",)),
        CliCase("index: one article repeated 90,000 times", bomb_setup(
            lambda: many_lines(90_000, lambda n: b'{"text": "Same\\n\\nThe same Harwick story."}\n'),
            "same.jsonl.gz"), (0,), ("+1 added",)),
        CliCase("index: 150,000 one-line articles", bomb_setup(
            lambda: many_lines(150_000, lambda n: b'{"text": "Tiny %d"}\n' % n), "tiny.jsonl.gz"), (1,),
            ("more than 100,000 articles",)),
        CliCase("index: 300 bad lines and one good one", index_file("mixed.jsonl", lambda: b"{bad\n" * 300 + json.dumps(
            {"text": "Good\n\nThe one good Harwick line."}).encode() + b"\n"), (0,), ("more bad lines skipped",)),
    ]


def question_cases() -> list[CliCase]:
    def ask(*args: object, hints: tuple[str, ...] = (), codes: tuple[int, ...] = (2,)):
        def setup(ws: Workspace):
            return ["ask", *args, "--index-dir", str(ws.live)], ws.live, "grow"

        return setup, codes, hints

    table = [
        ("empty question", ask("", hints=("empty",))),
        ("blank question", ask("   \t ", hints=("empty",))),
        ("only punctuation", ask("?!?...", hints=("nothing to search for",))),
        ("only stop words", ask("what is the", hints=("nothing to search for",))),
        ("only pronouns", ask("Who is he?", hints=("nothing to search for",))),
        ("only control characters", ask("\x01\x02\x03\x7f", hints=("empty",))),
        ("only an escape sequence", ask("\x1b[2J\x1b[H", hints=("empty",))),
        ("question of 2,001 characters", ask("why " * 500 + "x", hints=("limit",))),
        ("question with bytes that are not UTF-8", ask(b"Who was killed at \xff\xfe Taji?", hints=("not UTF-8",))),
        ("question in escape sequences", ask("\x1b[31mWho was killed at Camp Taji?\x1b[0m", codes=(0,),
                                             hints=("Two Americans",))),
        ("question of another script", ask("谁在塔吉营地被杀?", codes=(0,))),
        ("-k 0", ask(QUESTION, "-k", "0", hints=("at least 1",))),
        ("-k -3", ask(QUESTION, "-k", "-3", hints=("at least 1",))),
        ("-k 100000", ask(QUESTION, "-k", "100000", hints=("at most",))),
        ("-k five", ask(QUESTION, "-k", "five", hints=("invalid int",))),
        ("--since not a date", ask(QUESTION, "--since", "2020-13-45", hints=("YYYY-MM-DD",))),
        ("--since after --until", ask(QUESTION, "--since", "2021-01-01", "--until", "2020-01-01",
                                      hints=("is after",))),
        ("--as-of in year 99999", ask(QUESTION, "--as-of", "99999-01-01", hints=("YYYY-MM-DD",))),
        ("--min-support 7", ask(QUESTION, "--min-support", "7", hints=("between 0 and 1",))),
        ("--answer-mode llm without a model", ask(QUESTION, "--answer-mode", "llm", "--llm-model",
                                                  "/nonexistent/model.gguf", codes=(0,),
                                                  hints=("answered without a chat model", "[llm]"))),
    ]
    return [CliCase(f"ask: {name}", setup, codes, hints) for name, (setup, codes, hints) in table]


def setting_cases() -> list[CliCase]:
    def with_env(name: str, variable: str, value: str, *hints: str, command: str = "ask") -> CliCase:
        def setup(ws: Workspace):
            args = ["ask", QUESTION] if command == "ask" else ["index", str(ws.articles)]
            return [*args, "--index-dir", str(ws.live)], ws.live, "grow"

        return CliCase(f"setting: {name}", setup, (2,), hints, env={variable: value})

    def index_at(ws: Workspace, target: Path) -> tuple[list, Path, str]:
        return ["ask", QUESTION, "--index-dir", str(target)], ws.live, "grow"

    def a_file(ws: Workspace):
        path = ws.path("not-a-folder")
        path.write_text("x")
        return index_at(ws, path)

    return [
        with_env("CITELINE_TOP_K=abc", "CITELINE_TOP_K", "abc", "not a valid int"),
        with_env("CITELINE_MIN_SUPPORT=2", "CITELINE_MIN_SUPPORT", "2", "between 0 and 1"),
        with_env("CITELINE_EMBEDDER=/nonexistent", "CITELINE_EMBEDDER", "/nonexistent/model", "never downloaded"),
        with_env("CITELINE_EMBED_BACKEND=gpu", "CITELINE_EMBED_BACKEND", "gpu", "embed_backend"),
        with_env("CITELINE_MAX_FILE_BYTES=0", "CITELINE_MAX_FILE_BYTES", "0", "at least 1", command="index"),
        with_env("CITELINE_VECTOR_STORE=bogus", "CITELINE_VECTOR_STORE", "bogus", "vector_store"),
        with_env("CITELINE_RETRIEVAL_MODE=fuzzy", "CITELINE_RETRIEVAL_MODE", "fuzzy", "retrieval mode"),
        with_env("CITELINE_CHUNK_TOKENS=10", "CITELINE_CHUNK_TOKENS", "10", "at least 32", command="index"),
        CliCase("setting: --index-dir is a file", a_file, (2,), ("is a file, not a folder",)),
        CliCase("setting: --index-dir is /dev/null", lambda ws: index_at(ws, Path("/dev/null")), (2,),
                ("not a folder",)),
        CliCase("setting: --chunk-tokens 100 on an index of 160", lambda ws: (
            ["index", str(ws.articles), "--chunk-tokens", "100", "--index-dir", str(ws.live)], ws.live, "grow"),
            (2,), ("--rebuild",)),
        CliCase("setting: --dense-chunks -1", lambda ws: (
            ["index", str(ws.articles), "--dense-chunks", "-1", "--index-dir", str(ws.live)], ws.live, "grow"),
            (2,), ("dense_chunks",)),
        CliCase("setting: serve --port 99999", lambda ws: (
            ["serve", "--port", "99999", "--index-dir", str(ws.live)], ws.live, "grow"), (2,), ("port",)),
    ]


def command_cases() -> list[CliCase]:
    def run(*args: str, codes=(2,), hints=()) -> tuple:
        return (lambda ws: ([*args, "--index-dir", str(ws.live)], ws.live, "grow")), codes, hints

    table = [
        ("show: an id that is not there", run("show", "0000000000000000", hints=("no indexed article",))),
        ("show: --lines abc", run("show", "storm.txt", "--lines", "abc", hints=("FIRST-LAST",))),
        ("show: --lines 5-2", run("show", "storm.txt", "--lines", "5-2", hints=("FIRST-LAST",))),
        ("show: --lines 999", run("show", "storm.txt", "--lines", "999", hints=("past its end",))),
        ("show: a path with a NUL-like escape", run("show", "\x1b]0;title\x07x.txt", hints=("no indexed",))),
        ("eval: a dataset that does not exist", run("eval", "/nonexistent/dataset", hints=("dataset",))),
    ]
    cases = [CliCase(name, setup, codes, hints) for name, (setup, codes, hints) in table]

    def missing(ws: Workspace):
        return ["list", "--index-dir", str(ws.root / "no-index-here")], ws.live, "grow"

    def bad_questions(ws: Workspace):
        folder = ws.path("my-set")
        folder.mkdir()
        shutil.copy(next(ws.articles.glob("*.txt")), folder)
        (folder / "questions.jsonl").write_text('{"question": 5}\n{bad json\n', encoding="utf-8")
        return ["eval", str(folder), "-q"], ws.live, "grow"

    cases.append(CliCase("list: no index there", missing, (2,), ("no index",)))
    cases.append(CliCase("eval: questions.jsonl of bad lines", bad_questions, (2,), ("questions.jsonl",)))
    return cases


# -- damaged indexes -------------------------------------------------------------------------------------------------
def manifest_files(index: Path) -> dict[str, str]:
    """The files of the index's first segment."""
    segment = json.loads((index / "manifest.json").read_text(encoding="utf-8"))["segments"][0]
    return {"chunks": f"chunks-{segment['id']:06d}.sqlite", "bm25": f"bm25-{segment['id']:06d}",
            **({"vectors": segment["vectors"]["file"]} if "file" in segment["vectors"] else {})}


def truncate(part: str, keep: float = 0.5) -> Callable[[Path], None]:
    def damage(index: Path) -> None:
        path = index / manifest_files(index)[part]
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])

    return damage


def garble(part: str) -> Callable[[Path], None]:
    """Same size, other bytes: only reading the file tells."""

    def damage(index: Path) -> None:
        path = index / manifest_files(index)[part]
        path.write_bytes(bytes((b * 7 + 13) % 256 for b in path.read_bytes()))

    return damage


def remove(relative: Callable[[Path], Path]) -> Callable[[Path], None]:
    def damage(index: Path) -> None:
        target = relative(index)
        shutil.rmtree(target) if target.is_dir() else target.unlink()

    return damage


def edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(index: Path) -> None:
        path = index / "manifest.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(json.dumps(data), encoding="utf-8")

    return damage


def write_manifest(raw: bytes) -> Callable[[Path], None]:
    return lambda index: (index / "manifest.json").write_bytes(raw)


def bm25_file(name: str) -> Callable[[Path], Path]:
    return lambda index: index / manifest_files(index)["bm25"] / "chunks" / name


def damaged(name: str, damage: Callable[[Path], None], args: Callable[[Workspace], list] | None = None,
            codes: tuple[int, ...] = (2,), hints: tuple[str, ...] = ("--rebuild",), user: str = "",
            cwd_root: bool = False, prefix=None) -> CliCase:
    def setup(ws: Workspace):
        index = ws.copy_index()
        damage(index)
        command = args(ws) if args else ["ask", QUESTION]
        return [*command, "--index-dir", str(index)], index, "frozen"

    return CliCase(f"damaged: {name}", setup, codes, hints, user=user, cwd_root=cwd_root, prefix=prefix)


def _setitem(path: tuple[str, ...], value: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return change


def damaged_cases() -> list[CliCase]:
    gone = ("no manifest.json", "--rebuild")
    return [
        damaged("FAISS file cut in half", truncate("vectors")),
        damaged("FAISS file of garbage, same size", garble("vectors"), hints=("cannot be read by FAISS", "--rebuild")),
        damaged("FAISS file missing", remove(lambda i: i / manifest_files(i)["vectors"])),
        damaged("SQLite file of garbage, same size", garble("chunks"), hints=("not a database", "--rebuild")),
        damaged("SQLite file cut in half", truncate("chunks")),
        damaged("SQLite file emptied", truncate("chunks", 0.0)),
        damaged("SQLite file missing", remove(lambda i: i / manifest_files(i)["chunks"])),
        damaged("SQLite garbage, rag list", garble("chunks"), args=lambda ws: ["list"]),
        damaged("BM25 folder missing", remove(lambda i: i / manifest_files(i)["bm25"])),
        damaged("BM25 vocabulary garbage, same size", lambda i: bm25_file("vocab.json")(i).write_text(
            "x" * bm25_file("vocab.json")(i).stat().st_size)),
        damaged("BM25 postings cut short", lambda i: bm25_file("docs.npy")(i).write_bytes(
            bm25_file("docs.npy")(i).read_bytes()[:40])),
        damaged("manifest of garbage", write_manifest(b"\x00garbage{{{")),
        damaged("manifest emptied", write_manifest(b"")),
        damaged("manifest not UTF-8", write_manifest(b'{"embedder": "\xff\xfe"}')),
        damaged("manifest nested 100k deep", write_manifest(b"[" * 100_000 + b"]" * 100_000)),
        damaged("manifest is a folder", lambda i: ((i / "manifest.json").unlink(), (i / "manifest.json").mkdir())),
        damaged("manifest counts of the wrong type", edit_manifest(_setitem(("counts", "chunks"), "many"))),
        damaged("manifest counts a list", edit_manifest(_setitem(("counts",), [1, 2]))),
        damaged("manifest counts a wrong number", edit_manifest(_setitem(("segments", 0, "chunks"), 5))),
        damaged("manifest generation a word", edit_manifest(_setitem(("generation",), "three"))),
        damaged("manifest sources a string", edit_manifest(_setitem(("sources",), "all of them"))),
        damaged("manifest dimension 0", edit_manifest(_setitem(("embedder", "dimension"), 0))),
        damaged("manifest format version 99", edit_manifest(_setitem(("format_version",), 99)),
                hints=("format version 99", "--rebuild")),
        damaged("vectors path ../../etc/passwd", edit_manifest(_setitem(("vector_store", "file"), "../../etc/passwd")),
                hints=("never leave", "--rebuild")),
        damaged("vectors path /dev/zero", edit_manifest(_setitem(("vector_store", "file"), "/dev/zero")),
                hints=("never leave", "--rebuild")),
        damaged("file_sizes names ../outside", edit_manifest(_setitem(("file_sizes", "../outside"), 5)),
                hints=("outside the index folder",)),
        damaged("manifest deleted: rag ask (seeds/ at hand)", remove(lambda i: i / "manifest.json"), hints=gone,
                cwd_root=True),
        damaged("manifest deleted: rag index", remove(lambda i: i / "manifest.json"), hints=gone,
                args=lambda ws: ["index", str(ws.articles)]),
        damaged("manifest deleted: rag list", remove(lambda i: i / "manifest.json"), hints=gone,
                args=lambda ws: ["list"]),
        damaged("manifest deleted: rag serve (seeds/ at hand)", remove(lambda i: i / "manifest.json"), hints=gone,
                args=lambda ws: ["serve", "--port", "1"], cwd_root=True),
    ]


def permission_cases() -> list[CliCase]:
    def chown_nobody_readonly(index: Path) -> None:
        for path in [index, *index.rglob("*")]:
            os.chown(path, 65534, 65534)
        index.chmod(0o555)

    def read_only_mount(ws: Workspace, index: Path) -> tuple[str, ...]:
        return ("unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind -o ro "$0" "$0" && exec "$@"', str(index))

    new_file = lambda ws: ["index", str(write_new(ws))]  # noqa: E731
    return [
        damaged("another user's index: rag ask", lambda i: None, codes=(0,), hints=("Two Americans",),
                user="nobody"),
        damaged("another user's index: rag index", lambda i: None, args=new_file,
                hints=("permission denied", "unchanged"), user="nobody"),
        damaged("another user's 0600 manifest: rag ask", lambda i: (i / "manifest.json").chmod(0o600),
                hints=("permission denied",), user="nobody"),
        damaged("read-only folder of one's own: rag index", chown_nobody_readonly, args=new_file,
                hints=("permission denied", "unchanged"), user="nobody"),
        damaged("read-only file system: rag index", lambda i: None, args=new_file,
                hints=("read-only file system", "unchanged"), prefix=read_only_mount),
        damaged("read-only file system: rag ask", lambda i: None, codes=(0,), hints=("Two Americans",),
                prefix=read_only_mount),
    ]


def write_new(ws: Workspace) -> Path:
    path = ws.path("new.txt")
    path.write_text(article("A new article", "The Harwick pier was painted blue on Monday."), encoding="utf-8")
    path.chmod(0o644)
    return path


FULL_DISK = """
mount -t tmpfs -o size="$SIZE" tmpfs "$DISK" || exit 99
cp -a "$PRISTINE/." "$DISK/"
"$PY" -m rag index "$BIG" --index-dir "$DISK" -q; echo "INDEX=$?" >&2
"$PY" -m rag list --json --index-dir "$DISK" | wc -l
"$PY" -m rag ask "$QUESTION" --json --index-dir "$DISK" > /dev/null; echo "ASK=$?" >&2
"""


def full_disk(ws: Workspace) -> Result:
    """A disk that fills up during the build: a small tmpfs in a mount namespace of its own."""
    from bad_inputs import run_process

    disk = ws.path("disk")
    disk.mkdir()
    big = ws.path("big.txt")
    big.write_text("Big article\n\n" + "".join(f"Line {n} of a long Harwick report, about the river and the"
                                                f" bridge number {n}.\n" for n in range(30_000)), encoding="utf-8")
    size = sum(p.stat().st_size for p in ws.pristine.rglob("*") if p.is_file()) + 400_000
    env = {**ws.env, "SIZE": str(size), "DISK": str(disk), "PRISTINE": str(ws.pristine), "BIG": str(big),
           "PY": sys.executable, "QUESTION": QUESTION}
    run = run_process(["unshare", "--mount", "--propagation", "private", "sh", "-c", FULL_DISK], env, 300, ws.root)
    before = len(indexed_ids(ws.pristine))
    listed = int(run.out.strip() or 0) if run.out.strip().isdigit() else -1
    ok = "INDEX=2" in run.err and "no space left" in run.err.lower() and "ASK=0" in run.err
    detail = next((line for line in run.err.splitlines() if "rag index" in line), run.err.strip()[-150:])
    return Result("cli", "disk full during rag index", ok and listed == before, tracebacky(run.err),
                  max(0, before - listed), run.hung, run.seconds, run.peak_mib, detail)


def run_cli_case(ws: Workspace, case: CliCase) -> Result:
    argv, index_dir, mode = case.setup(ws)
    before_ids = indexed_ids(index_dir)
    before_files = snapshot(index_dir) if mode == "frozen" else None
    prefix = case.prefix(ws, index_dir) if case.prefix else ()
    run: Run = ws.rag(*argv, env=case.env, user=case.user, cwd=ROOT if case.cwd_root else None, prefix=prefix)
    lost = len(before_ids - indexed_ids(index_dir))
    changed = before_files is not None and snapshot(index_dir) != before_files
    escapes = "\x1b" in run.text
    ok = run.code in case.codes and all(h.lower() in run.text.lower() for h in case.hints) and not escapes
    lines = [line for line in run.err.splitlines() if line.strip() and not line.startswith(("Index:", "retrieve "))]
    telling = [line for line in lines if line.startswith(("rag ", "skipped "))]  # the error, or why a file was skipped
    shown = telling[0] if telling else lines[-1] if lines else (run.out.strip().splitlines() or [""])[-1]
    detail = f"exit {run.code}: {shown}"
    if escapes:
        detail = "ESC in the output; " + detail
    if changed:
        detail = "index files changed; " + detail
    return Result("cli", case.name, ok, tracebacky(run.err), lost + int(changed), run.hung, run.seconds,
                  run.peak_mib, detail)


def cli_cases(ws: Workspace, keyword: str = "") -> list[Result]:
    cases = [*file_cases(), *special_cases(), *question_cases(), *setting_cases(), *command_cases(),
             *damaged_cases(), *permission_cases()]
    results = []
    for case in cases:
        if keyword in case.name:
            results.append(run_cli_case(ws, case))
            print(f"  cli  {results[-1].name}: {'ok' if results[-1].passed else 'FAIL'} {results[-1].detail[:100]}",
                  flush=True)
    if keyword in "disk full during rag index":
        results.append(full_disk(ws))
        print(f"  cli  disk full: {'ok' if results[-1].passed else 'FAIL'} {results[-1].detail[:100]}", flush=True)
    return results


# -- the Python API ------------------------------------------------------------------------------------------------
@dataclass
class ApiCase:
    """A call of the Python API; `expect` is "refuse" (a CitelineError whose message holds the hints) or a check
    of what the call returned (True when right)."""

    name: str
    call: Callable[[dict], object]
    expect: str | Callable[[object], bool] = "refuse"
    hints: tuple[str, ...] = ()


def _cites_12(answer) -> bool:
    return any(c.line_start <= 12 <= c.line_end for c in answer.citations)


def api_table() -> list[ApiCase]:
    from datetime import date, datetime

    from rag.settings import Settings

    def ask(*args, **kwargs) -> Callable[[dict], object]:
        return lambda ctx: ctx["app"].ask(*args, **kwargs)

    refuse = [
        ("question None", ask(None), "must be text"), ("question a number", ask(123), "must be text"),
        ("question bytes", ask(b"Who was killed?"), "must be text"), ("question empty", ask(""), "empty"),
        ("question blank", ask("  \n\t "), "empty"), ("question of NULs", ask("\x00\x00\x00"), "empty"),
        ("question of punctuation", ask("?!?..."), "nothing to search for"),
        ("question of stop words", ask("what is the"), "nothing to search for"),
        ("question with a lone surrogate", ask("\ud800 Who was killed at Camp Taji?"), "not UTF-8"),
        ("question of 2,001 characters", ask("x" * 2001), "limit"),
        ("k=0", ask(QUESTION, 0), "from 1 to"), ("k=-1", ask(QUESTION, -1), "from 1 to"),
        ("k='five'", ask(QUESTION, "five"), "whole number"), ("k=5.5", ask(QUESTION, 5.5), "whole number"),
        ("k=10**9", ask(QUESTION, 10**9), "from 1 to"), ("k=True", ask(QUESTION, True), "whole number"),
        ("k=[5]", ask(QUESTION, [5]), "whole number"),
        ("since='yesterday'", ask(QUESTION, since="yesterday"), "date"),
        ("since=20200301", ask(QUESTION, since=20200301), "date"),
        ("since after until", ask(QUESTION, since=date(2021, 1, 1), until=date(2020, 1, 1)), "is after"),
        ("sources=123", ask(QUESTION, sources=123), "sources"),
        ("sources=[None]", ask(QUESTION, sources=[None]), "sources"),
        ("mode='gpt'", ask(QUESTION, mode="gpt"), "answer mode"),
        ("retrieve k=0", lambda ctx: ctx["app"].retrieve(QUESTION, 0), "from 1 to"),
        ("Settings(top_k='5')", lambda ctx: Settings(top_k="5"), "whole number"),
        ("Settings(min_support=nan)", lambda ctx: Settings(min_support=float("nan")), "number"),
        ("Settings(max_file_bytes=0)", lambda ctx: Settings(max_file_bytes=0), "at least 1"),
        ("Settings.from_env(CITELINE_TOP_K=x)", lambda ctx: Settings.from_env({"CITELINE_TOP_K": "x"}),
         "not a valid int"),
        ("index_dir is a file", lambda ctx: ctx["make"](index_dir=ctx["a_file"]), "is a file"),
        ("no index there", lambda ctx: ctx["make"](index_dir=ctx["ws"].root / "nothing").ask(QUESTION), "no index"),
        ("index(123)", lambda ctx: ctx["app"].index(123, progress=False), "paths to index"),
        ("remove an unknown id", lambda ctx: ctx["app"].remove(["nope"]), "no indexed article"),
        ("ask a damaged index", lambda ctx: ctx["make"](index_dir=ctx["damaged"]).ask(QUESTION), "damaged"),
        ("LangChain retriever with k=0", lambda ctx: ctx["retriever"](k=0).invoke(QUESTION), "from 1 to"),
        ("LangChain retriever, empty query", lambda ctx: ctx["retriever"](k=3).invoke(""), "empty"),
    ]
    cases = [ApiCase(name, call, "refuse", (hint,)) for name, call, hint in refuse]
    cases += [
        ApiCase("k='5' is taken as 5", ask(QUESTION, "5"), _cites_12),
        ApiCase("k=5.0 is taken as 5", ask(QUESTION, 5.0), _cites_12),
        ApiCase("since as text", ask(QUESTION, since="2020-03-01"), _cites_12),
        ApiCase("as_of a datetime", ask(QUESTION, as_of=datetime(2020, 3, 14, 9, 30)), _cites_12),
        ApiCase("sources one string", ask(QUESTION, sources="articles"), _cites_12),
        ApiCase("question with ESC and NUL", ask("\x1b[31mWho was\x00 killed at Camp Taji?\x1b[0m"), _cites_12),
        ApiCase("llm mode without a model", lambda ctx: ctx["make"](llm_model="/nonexistent.gguf").ask(
            QUESTION, mode="llm"), lambda a: _cites_12(a) and "[llm]" in a.note and a.mode == "extractive"),
        ApiCase("index() of one path as a string", lambda ctx: ctx["app"].index(str(ctx["ws"].articles),
                                                                                progress=False),
                lambda report: report.files_seen == 4 and not report.skipped),
        ApiCase("index() of non-paths", lambda ctx: ctx["app"].index([123, None, ""], progress=False),
                lambda report: len(report.skipped) == 3 and all("not a path" in r for _, r in report.skipped)),
        ApiCase("index() of a FIFO", lambda ctx: ctx["app"].index([ctx["fifo"]], progress=False),
                lambda report: "not a regular file" in str(report.skipped)),
        ApiCase("index() of a link to /dev/zero", lambda ctx: ctx["app"].index([ctx["zero"]], progress=False),
                lambda report: "character device" in str(report.skipped)),
    ]
    return cases


def api_context(ws: Workspace) -> dict:
    from rag.api import Citeline
    from rag.apps.langchain_retriever import CitelineRetriever
    from rag.embed.embedding import make_embedder
    from rag.settings import Settings

    index = ws.copy_index()
    cache = ws.env["CITELINE_MODEL_CACHE"]
    embedder = make_embedder(Settings(index_dir=index, model_cache=cache))
    embedder.warm_up()

    def make(**settings) -> Citeline:
        return Citeline(Settings(**{"index_dir": index, "model_cache": cache, **settings}), embedder=embedder)

    app = make()
    a_file = ws.path("a-file")
    a_file.write_text("x")
    damaged_index = ws.copy_index()
    garble("chunks")(damaged_index)
    fifo = ws.path("pipe.txt")
    os.mkfifo(fifo)
    zero = ws.path("zero.txt")
    zero.symlink_to("/dev/zero")
    return {"ws": ws, "app": app, "make": make, "index": index, "a_file": a_file, "damaged": damaged_index,
            "fifo": fifo, "zero": zero, "retriever": lambda k: CitelineRetriever(app=app, k=k)}


def run_api_case(ctx: dict, case: ApiCase) -> Result:
    from rag.errors import CitelineError

    before = indexed_ids(ctx["index"])
    started = time.monotonic()
    result = Result("api", case.name)
    try:
        value = with_time_limit(60, lambda: case.call(ctx))
        result.ok = case.expect != "refuse" and bool(case.expect(value))
        result.detail = f"returned {type(value).__name__}" + (f": note {value.note[:80]!r}" if getattr(
            value, "note", "") else "")
    except TimedOut:
        result.hung, result.ok, result.detail = True, False, "timed out"
    except CitelineError as exc:
        message = str(exc)
        result.ok = case.expect == "refuse" and all(h.lower() in message.lower() for h in case.hints)
        result.ok = result.ok and "\n" not in message
        result.detail = f"{type(exc).__name__}: {message}"
    except Exception as exc:  # what a user's program would show as a traceback
        result.traceback, result.ok, result.detail = True, False, f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - started
    result.lost = len(before - indexed_ids(ctx["index"]))
    result.peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this process, so far
    return result


def api_cases(ws: Workspace, keyword: str = "") -> list[Result]:
    ctx = api_context(ws)
    results = []
    for case in api_table():
        if keyword in case.name:
            results.append(run_api_case(ctx, case))
            print(f"  api  {case.name}: {'ok' if results[-1].passed else 'FAIL'} {results[-1].detail[:100]}",
                  flush=True)
    ctx["app"].close()
    return results


# -- the chat's HTTP API ---------------------------------------------------------------------------------------------
@dataclass
class UiCase:
    """A request to the chat server through gradio_client. `expect` is "error" (the client raises an error whose
    message holds the hints) or a check of what came back; a file case uploads what `make` writes."""

    name: str
    call: Callable[[object, Path], object]
    expect: str | Callable[[object], bool] = "error"
    hints: tuple[str, ...] = ()


def upload(*names_and_makers: tuple[str, Maker | Callable[[Path], None]]) -> Callable[[object, Path], object]:
    """Upload files (each written by a Maker, or by a writer of a path) in one request."""

    def call(client, folder: Path):
        from gradio_client import handle_file

        handles = []
        for name, make in names_and_makers:
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            result = make(path) if make.__code__.co_argcount == 1 else path.write_bytes(make())
            del result
            handles.append(handle_file(str(path)))
        return client.predict(handles, api_name="/upload")

    return call


def uploads_twice(first: tuple[str, Maker], second: tuple[str, Maker]) -> Callable[[object, Path], object]:
    def call(client, folder: Path):
        one = upload(first)(client, folder / "1")
        return one + "\n\n" + upload(second)(client, folder / "2")

    return call


def says(*words: str) -> Callable[[object], bool]:
    return lambda value: all(w.lower() in str(value).lower() for w in words)


def chat(question: object, k: object = 5, since: str = "", mode: str = "extractive", history: object = None):
    return lambda client, folder: client.predict(question, history if history is not None else [], k, since, "", "",
                                                 mode, "", api_name="/chat")


def ask_api(question: object, k: object = 5, since: str = "", mode: str = "extractive"):
    return lambda client, folder: client.predict(question, k, since, "", "", mode, api_name="/ask")


def gz(pieces: Callable[[], object]) -> Callable[[Path], None]:
    return lambda path: write_gzip_stream(path, pieces())


def raw_call(api_name: str, *data: object) -> Callable[[object, Path], object]:
    """A request as any HTTP client sends it, without gradio_client (which cannot send a lone surrogate): JSON
    with ASCII escapes, then the event stream of the answer."""

    def call(client, folder: Path):
        import httpx
        from gradio_client.exceptions import AppError

        url = client.src.rstrip("/") + "/gradio_api/call/" + api_name
        started = httpx.post(url, content=json.dumps({"data": list(data)}),
                             headers={"Content-Type": "application/json"}, timeout=60)
        started.raise_for_status()
        stream = httpx.get(f"{url}/{started.json()['event_id']}", timeout=60).text
        event = next((line[7:] for line in stream.splitlines() if line.startswith("event: ")), "")
        payload = next((line[6:] for line in reversed(stream.splitlines()) if line.startswith("data: ")), "null")
        if event == "error":
            raise AppError(str(json.loads(payload)))
        return json.loads(payload)[0]

    return call


def raw_upload(size: int) -> Callable[[object, Path], object]:
    """A file larger than the server takes, sent to its upload route directly (not stopped by the client)."""

    def call(client, folder: Path):
        import httpx
        from gradio_client.exceptions import AppError

        path = folder / "huge.txt"
        path.write_bytes(b"Harwick line.\n" * (size // 14))
        with open(path, "rb") as handle:
            response = httpx.post(client.src.rstrip("/") + "/gradio_api/upload", files={"files": handle}, timeout=120)
        if response.status_code >= 400:
            raise AppError(f"HTTP {response.status_code}: {response.text[:200]}")
        return response.text

    return call


def ui_table() -> list[UiCase]:
    timing = lambda *words: (lambda out: says(*words)(out[2]))  # noqa: E731 (the /chat timing panel)
    good = article("Harwick pier painted", "The Harwick pier was painted blue by 40 volunteers on Monday.")
    other = article("Harwick pier sold", "The Harwick pier was sold to a trust for one pound on Friday.")
    cases = [
        UiCase("/ask empty question", ask_api(""), hints=("empty",)),
        UiCase("/ask only punctuation", ask_api("?!?"), hints=("nothing to search for",)),
        UiCase("/ask question null", ask_api(None), hints=("must be text",)),
        UiCase("/ask NULs", ask_api("\x00\x00"), hints=("empty",)),
        UiCase("/ask lone surrogate (raw HTTP)", raw_call("ask", "\ud800 Who was killed at Camp Taji?", 5, "", "", "",
                                                          "extractive", ""), hints=("not UTF-8",)),
        UiCase("/ask no arguments (raw HTTP)", raw_call("ask"), hints=("does not fit",)),
        UiCase("/ask a list for a question (raw HTTP)", raw_call("ask", ["Who?"], 5, "", "", "", "extractive", ""),
               hints=("must be text",)),
        UiCase("/ask 3,000 characters", ask_api("why " * 750), hints=("limit",)),
        UiCase("/ask k=0", ask_api(QUESTION, 0), hints=("from 1 to",)),
        UiCase("/ask k='abc'", ask_api(QUESTION, "abc"), hints=("whole number",)),
        UiCase("/ask k=1000", ask_api(QUESTION, 1000), hints=("from 1 to",)),
        UiCase("/ask since garbage", ask_api(QUESTION, since="last tuesday"), hints=("date",)),
        UiCase("/ask mode gpt", ask_api(QUESTION, mode="gpt"), hints=("answer mode",)),
        UiCase("/ask llm mode without a model", ask_api(QUESTION, mode="llm"),
               lambda out: "[llm]" in out["note"] and any(c["line_start"] == 12 for c in out["citations"])),
        UiCase("/ask k='5' is taken as 5", ask_api(QUESTION, "5"),
               lambda out: any(c["line_start"] == 12 for c in out["citations"])),
        UiCase("/chat empty question", chat(""), timing("empty")),
        UiCase("/chat k=0", chat(QUESTION, 0), "error", ("less than minimum",)),
        UiCase("/chat k='abc'", chat(QUESTION, "abc"), "error", ("does not fit",)),
        UiCase("/chat since garbage", chat(QUESTION, since="2020-02-30"), timing("date")),
        UiCase("/chat mode gpt", chat(QUESTION, mode="gpt"), "error", ("not in the list of choices",)),
        UiCase("/chat only stop words", chat("Who is he?"), timing("nothing to search for")),
        UiCase("/chat history not a list", chat(QUESTION, history="not a list"), "error", ("does not fit",)),
        UiCase("/chat history of odd messages", chat(QUESTION, history=[{"role": "wizard", "content": 5}]), "error",
               ("does not fit",)),
        UiCase("/upload nothing", lambda client, folder: client.predict([], api_name="/upload"), says("no files")),
        UiCase("/upload empty file", upload(("empty.txt", text(""))), says("empty", "not added")),
        UiCase("/upload PNG named .txt", upload(("photo.txt", repeat(b"\x89PNG\x00\x00", 3000))),
               says("binary", "not added")),
        UiCase("/upload random bytes", upload(("noise.txt", lambda: bytes(range(128, 256)) * 512)),
               says("not UTF-8", "not added")),
        UiCase("/upload PDF", upload(("paper.pdf", text("%PDF-1.4"))), "error", ("invalid file type",)),
        UiCase("/upload 6 MB .txt", upload(("big.txt", repeat(b"Harwick line.\n", 6_000_000))),
               says("too large", "not added")),
        UiCase("/upload 21 MB .txt", upload(("huge.txt", repeat(b"Harwick line.\n", 21_000_000))),
               "error", ("maximum file size",)),
        UiCase("/upload 21 MB straight to the upload route", raw_upload(21_000_000), "error", ("413",)),
        UiCase("/upload bomb: one 300 MB line in 300 KB", upload(("bomb.jsonl.gz", gz(lambda: one_long_line(300)))),
               says("once decompressed", "not added")),
        UiCase("/upload bomb: 250 MB of bad lines", upload(("lines.jsonl.gz", gz(lambda: many_lines(
            12_000_000, lambda n: b'{"x": "yyyyyyyy"}\n')))), says("once decompressed", "not added")),
        UiCase("/upload 30,000 tiny articles", upload(("tiny.jsonl.gz", gz(lambda: many_lines(
            30_000, lambda n: b'{"text": "Tiny article %d in Harwick."}\n' % n)))), says("most one upload")),
        UiCase("/upload .jsonl.gz cut short", upload(("cut.jsonl.gz", cut_gzip)), says("gzip", "not added")),
        UiCase("/upload same name, other text (no article lost)", uploads_twice(("pier.txt", text(good)),
                                                                                 ("pier.txt", text(other))),
               says("stored as pier-2.txt", "1 new article")),
        UiCase("/upload a日本.txt and a中国.txt", upload(("x/a日本.txt", text(article("Japan desk", "The Japan desk"
                                                                                        " opened in Harwick."))),
                                                   ("y/a中国.txt", text(article("China desk", "The China desk"
                                                                                   " opened in Harwick.")))),
               says("a日本.txt", "a中国.txt", "2 new articles")),
        UiCase("/upload the same file twice", uploads_twice(("same.txt", text(good)), ("same.txt", text(good))),
               says("already indexed")),
        UiCase("/upload a name of dots and %2F", upload(("..%2F..%2Fevil.txt", text(article("Evil name", "A file named"
                                                                                      " to climb out of Harwick."))),
                                          ), says("1 new article")),
        UiCase("/upload UTF-16 with BOM", upload(("utf16.txt", lambda: article(
            "UTF-16 upload", "The Harwick organ was tuned in UTF-16.").encode("utf-16"))), says("1 new article")),
        UiCase("/upload HTML without date metadata", upload(("undated.html", text(UNDATED_HTML))),
               says("1 new article")),
        UiCase("/upload 200,000 nested <div>s", upload(("deep.html", text(HOSTILE_HTML))),
               says("no article text", "not added")),
        UiCase("/upload a server path it was never given", lambda client, folder: client.predict(
            [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}], api_name="/upload"), "error",
               ("invalid file type",)),
        UiCase("/upload a .txt path it was never given (raw HTTP)", raw_call(
            "upload", [{"path": "/etc/passwd.txt", "meta": {"_type": "gradio.FileData"}}]), "error",
               ("does not fit",)),
        UiCase("/remove an unknown id", lambda client, folder: client.predict("nope", api_name="/remove"),
               says("no such article")),
        UiCase("/remove nothing", lambda client, folder: client.predict("", api_name="/remove"), says("choose")),
    ]
    return cases


def run_ui_case(server: Server, ws: Workspace, case: UiCase) -> Result:
    from gradio_client.exceptions import AppError

    folder = ws.path("upload")
    folder.mkdir()
    before = indexed_ids(server.index_dir)
    offset = server.log_size()
    server.reset_peak()
    started = time.monotonic()
    result = Result("ui", case.name)
    try:
        value = with_time_limit(120, lambda: case.call(server.client, folder))
        result.ok = case.expect != "error" and bool(case.expect(value))
        result.detail = str(value[2] if isinstance(value, tuple) else value).replace("\n", " ")
    except TimedOut:
        result.hung, result.ok, result.detail = True, False, "timed out"
    except (AppError, ValueError) as exc:  # the server's message, as the client raises it
        message = str(exc)
        result.ok = case.expect == "error" and all(h.lower() in message.lower() for h in case.hints)
        result.detail = f"{type(exc).__name__}: {message}"
        result.traceback = "has not enabled verbose error reporting" in message  # an error without a message
    result.seconds = time.monotonic() - started
    result.peak_mib = server.peak_mib()
    log = server.log_since(offset)
    result.traceback = result.traceback or tracebacky(log)
    if tracebacky(log):
        result.detail = "traceback in the server log; " + result.detail
    result.lost = len(before - indexed_ids(server.index_dir))
    return result


def ui_cases(ws: Workspace, keyword: str = "") -> list[Result]:
    index = ws.copy_index()
    server = Server(ws, index)
    results = []
    try:
        for case in ui_table():
            if keyword in case.name:
                results.append(run_ui_case(server, ws, case))
                print(f"  ui   {case.name}: {'ok' if results[-1].passed else 'FAIL'} {results[-1].detail[:100]}",
                      flush=True)
        alive = Result("ui", "the server still answers afterwards (GET / and a question)")
        import httpx

        page = httpx.get(server.url, timeout=10)
        alive.ok = server.alive() and page.status_code == 200 and any(
            c["line_start"] == 12 for c in server.client.predict(QUESTION, 5, "", "", "", "extractive",
                                                                 api_name="/ask")["citations"])
        if keyword in alive.name:
            results.append(alive)
    finally:
        server.stop()
    return results


SURFACES = {"cli": cli_cases, "api": api_cases, "ui": ui_cases}
