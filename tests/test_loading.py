from __future__ import annotations

import gzip
import json

import pytest

from rag.ingest.loading import LoadError, LoadLimits, article_id, decode, discover, file_sha256, load_file
from tests.conftest import SEED

HTML = """<!doctype html>
<html><head>
<title>Storm floods coastal town - The Daily Example</title>
<meta property="article:published_time" content="2021-08-14T09:30:00Z">
<link rel="canonical" href="https://news.example.com/storm-floods">
</head><body>
<nav><a href="/">Home</a> | <a href="/world">World</a></nav>
<article>
<h1>Storm floods coastal town</h1>
<p>Heavy rain from Storm Ellen flooded the coastal town of Harwick on Saturday, forcing hundreds of residents
to leave their homes before dawn.</p>
<p>The mayor, Lucia Fernandes, said 312 homes had been damaged and that the town hall would serve as a shelter
for the next two weeks.</p>
<p>Forecasters expect the river to peak on Sunday evening, when another 40 millimetres of rain could fall.</p>
</article>
<footer>Follow us on Twitter. Copyright 2021 The Daily Example.</footer>
</body></html>
"""


def test_seed_article(tmp_path):
    [article] = load_file(SEED)
    raw_lines = SEED.read_text(encoding="utf-8").split("\n")
    assert article.title == raw_lines[0]
    assert article.published == "2020-03-13"
    # Lines are numbered as `cat -n` numbers the file.
    assert article.lines[11] == raw_lines[11]
    assert "Two Americans and a 26-year-old British soldier were killed" in article.quote(12, 12)
    assert "Camp Taji" in article.quote(10, 10)
    assert article.id == article_id(SEED.read_text(encoding="utf-8"))


def test_html_article_keeps_text_lines_and_metadata(tmp_path):
    path = tmp_path / "storm.html"
    path.write_text(HTML, encoding="utf-8")
    [article] = load_file(path)
    assert article.title == "Storm floods coastal town"
    assert article.published == "2021-08-14"
    assert article.url == "https://news.example.com/storm-floods"
    lines = article.lines
    mayor = next(n for n, line in enumerate(lines, start=1) if "Lucia Fernandes" in line)
    assert "312 homes" in article.quote(mayor, mayor)
    assert "<p>" not in article.text and "Home | World" not in article.text
    assert not any("Follow us" in line for line in lines) or any(
        "Follow us" in lines[n - 1] for n in article.furniture
    )


def test_markdown_title(tmp_path):
    path = tmp_path / "note.md"
    path.write_text("# Council approves budget\n\nThe council approved a 4% rise on Tuesday.\n", encoding="utf-8")
    [article] = load_file(path)
    assert article.title == "Council approves budget"
    assert article.quote(3, 3) == "The council approved a 4% rise on Tuesday."


def test_jsonl_corpus_format(tmp_path):
    path = tmp_path / "corpus.jsonl.gz"
    records = [
        {"id": "a1", "url": "https://x.test/a1", "title": "First", "published": "2022-06-10",
         "text": "First paragraph.\n\nSecond paragraph names Jane Roe."},
        {"id": "a2", "url": "", "title": "", "published": "", "text": "Only paragraph."},
    ]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
        handle.write("{not json\n")
    problems: list[tuple[str, str]] = []
    articles = load_file(path, problems=problems)
    assert [a.doc_id for a in articles] == ["a1", "a2"]
    first = articles[0]
    assert first.title == "First" and first.published == "2022-06-10" and first.url == "https://x.test/a1"
    assert first.quote(3, 3) == "Second paragraph names Jane Roe."
    assert first.source.endswith("corpus.jsonl.gz#a1")
    assert len(problems) == 1 and "not valid JSON" in problems[0][1] and problems[0][0].endswith(":3")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"  \n\n\t\n", "empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00" * 20, "binary"),
        ("noise.txt", bytes(range(128, 256)) * 8 + b"\x01\x02\x03" * 50, "not UTF-8"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_file(path)


def test_latin1_text_is_decoded(tmp_path):
    path = tmp_path / "cafe.txt"
    path.write_bytes("Café owners in Zürich protest\n\nThe café owners said prices rose.\n".encode("latin-1"))
    [article] = load_file(path)
    assert article.title == "Café owners in Zürich protest"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [("Café reopens.", "latin-1"),  # too short for the detector to recognise a language: Windows-1252
     ("“Quoted” — dash", "cp1252"),
     ("Привет мир, как дела", "cp1251"),  # a short text of another script keeps the detector's reading
     ("Ελληνικά νέα σήμερα", "cp1253")],
)
def test_a_short_text_in_a_single_byte_encoding_is_decoded(text, encoding):
    assert decode(text.encode(encoding)) == text


def test_discover_walks_folders_and_reports_unsupported(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.txt").write_text("One\n\nText.", encoding="utf-8")
    (tmp_path / "a" / "b" / "two.md").write_text("Two\n\nText.", encoding="utf-8")
    (tmp_path / "a" / "b" / "photo.png").write_bytes(b"\x89PNG")
    (tmp_path / "a" / ".hidden.txt").write_text("hidden", encoding="utf-8")
    found = discover([tmp_path / "a", tmp_path / "missing.txt"])
    assert sorted(f.path.name for f in found.files) == ["one.txt", "two.md"]
    reasons = dict(found.problems)
    assert "not a supported type" in reasons[str(tmp_path / "a" / "b" / "photo.png")]
    assert reasons[str(tmp_path / "missing.txt")] == "no such file or folder"


# -- issue 11: hostile and careless files --------------------------------------------------------------------------
def _page(head: str, body: str) -> str:
    return (f"<!doctype html><html><head><title>Harwick bridge reopens</title>{head}</head><body><article>"
            f"<h1>Harwick bridge reopens</h1>{body}<p>The old bridge of Harwick reopened after repairs that began"
            " in 2019, the council said, and traffic was back to normal by the evening.</p><p>Repairs cost 2"
            " million pounds, twice what was planned in 2018, when the first cracks were found.</p>"
            "</article></body></html>")


@pytest.mark.parametrize(
    ("head", "body", "published"),
    [
        ('<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle",'
         ' "headline": "Harwick bridge reopens", "datePublished": "2022-07-27T08:00:00Z"}</script>', "",
         "2022-07-27"),
        ('<meta property="article:published_time" content="2021-08-14T09:30:00Z">', "", "2021-08-14"),
        ("", '<p class="byline">By Ann Lee, <time datetime="2023-02-03T10:00">3 February 2023</time></p>',
         "2023-02-03"),
        ("", "", ""),  # no date metadata: the years in the text (2019, 2018) are not taken for its date
        ("", "<p>Published in Harwick, 1 March 2020: a long-awaited day.</p>", ""),
    ],
)
def test_html_dates_come_from_metadata_only(tmp_path, head, body, published):
    path = tmp_path / "bridge.html"
    path.write_text(_page(head, body), encoding="utf-8")
    [article] = load_file(path)
    assert article.published == published
    assert any("2 million pounds" in line for line in article.lines)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark_is_decoded(tmp_path, encoding):
    text = "Café owners in Zürich protest\n\nThe café owners said prices rose by 12%.\n"
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    path = tmp_path / "cafe.txt"
    path.write_bytes(bom + text.encode(encoding))
    [article] = load_file(path)
    assert article.title == "Café owners in Zürich protest" and article.quote(3, 3).endswith("rose by 12%.")


def test_a_byte_order_mark_over_binary_is_refused(tmp_path):
    path = tmp_path / "odd.txt"
    path.write_bytes(b"\xff\xfeH\x00i\x00!")
    with pytest.raises(LoadError, match="UTF-16"):
        load_file(path)


def _alarm(seconds: int):
    import signal

    def fail(*_):
        raise TimeoutError("reading blocked")

    signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)


def test_only_regular_files_are_read(tmp_path):
    """A FIFO named .txt and a link to /dev/zero: reported, never opened for a blocking read."""
    import os
    import signal

    folder = tmp_path / "odd"
    folder.mkdir()
    os.mkfifo(folder / "pipe.txt")
    (folder / "zero.txt").symlink_to("/dev/zero")
    (folder / "good.txt").write_text("Good\n\nA good article about Harwick.\n", encoding="utf-8")
    _alarm(20)
    try:
        found = discover([folder, folder / "pipe.txt"])
        with pytest.raises(LoadError, match="not a regular file"):
            load_file(folder / "pipe.txt")
        with pytest.raises(LoadError, match="character device"):
            file_sha256(folder / "zero.txt")
    finally:
        signal.alarm(0)
    assert [f.path.name for f in found.files] == ["good.txt"]
    reasons = dict(found.problems)
    assert "not a regular file (a FIFO" in reasons[str(folder / "pipe.txt")]
    assert "character device" in reasons[str(folder / "zero.txt")]


def _gzip_lines(path, pieces) -> None:
    with gzip.open(path, "wb", compresslevel=9) as handle:
        for piece in pieces:
            handle.write(piece)


def test_a_decompression_bomb_is_refused_while_it_streams(tmp_path):
    """437 KB that expand to one 300 MB line: refused at the limit, in bounded pieces, never held whole."""
    import resource

    path = tmp_path / "bomb.jsonl.gz"
    _gzip_lines(path, [b'{"text": "', *([b"a" * (1 << 20)] * 300), b'"}\n'])
    assert path.stat().st_size < 1_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(LoadError, match=r"more than 50,000,000 bytes once decompressed.*CITELINE_MAX_FILE_BYTES"):
        load_file(path, limits=LoadLimits(max_file_bytes=50_000_000))
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 100, f"the peak memory grew by {grown_mib:.0f} MiB"


def test_long_lines_and_many_bad_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = json.dumps({"id": "g", "text": "Good\n\nThe one good Harwick line."})
    path.write_bytes(b'{"text": "' + b"a" * 2_000_000 + b'"}\n' + b"{bad\n" * 300 + good.encode() + b"\n")
    problems: list[tuple[str, str]] = []
    [article] = load_file(path, problems=problems, limits=LoadLimits(max_article_bytes=1_000_000))
    assert article.doc_id == "g"
    assert "longer than 1,000,000 bytes" in problems[0][1] and problems[0][0].endswith(":1")
    assert len(problems) == 21 and problems[-1][1] == "281 more bad lines skipped"


def test_too_many_articles_in_one_file_are_refused(tmp_path):
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps({"text": f"Tiny {n}"}) + "\n" for n in range(101)), encoding="utf-8")
    with pytest.raises(LoadError, match="more than 100 articles"):
        load_file(path, limits=LoadLimits(max_articles=100))
    with pytest.raises(LoadError, match="most one upload may hold"):
        load_file(path, limits=LoadLimits(max_articles=100, upload=True))


def test_an_article_over_the_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.txt"
    path.write_bytes(b"Harwick line.\n" * 100_000)
    with pytest.raises(LoadError, match=r"too large \(1,400,000 bytes; the limit is 1,000,000"):
        load_file(path, limits=LoadLimits(max_article_bytes=1_000_000))


def test_a_file_name_that_is_not_utf8_is_reported(tmp_path):
    import os

    fd = os.open(os.fsencode(tmp_path) + b"/caf\xe9.txt", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"Cafe\n\nA cafe opened.\n")
    os.close(fd)
    found = discover([tmp_path])
    assert not found.files and "not valid UTF-8" in found.problems[0][1]
