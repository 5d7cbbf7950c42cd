from __future__ import annotations

import gzip
import json

import pytest

from rag.loading import LoadError, article_id, discover, load_file
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
