"""The chat UI: answers with [n] markers, a sources panel with the cited lines highlighted, the collection.

Every piece of article text is HTML-escaped before it is shown, so an article holding `<script>` shows those
characters and runs nothing.
"""

from __future__ import annotations

import html
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag.api import Citeline, check_choices
from rag.dates import to_date
from rag.errors import CitelineError
from rag.followup import rewrite
from rag.loading import SUPPORTED_SUFFIXES, LoadError, load_file
from rag.schema import Answer, Article, Citation

EXAMPLES = [
    "Who was killed at Camp Taji?",
    "How many rockets were fired?",
    "Who was killed in Jurf al-Sakher?",
    "What did Ben Wallace say?",
]
CONTEXT_LINES = 3
STREAM_WORDS = 4
MAX_UPLOAD_BYTES = 20_000_000
UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".gz"]

CSS = """
.cl-sources { font-size: 0.92em; }
.cl-sources h3 { margin: 0 0 0.5em 0; }
.cl-abstained h3 { color: #b45309; }
.cl-card { border: 1px solid #d1d5db; border-radius: 8px; padding: 0.6em 0.8em; margin-bottom: 0.7em; }
.cl-n { font-weight: 700; color: #1d4ed8; }
.cl-meta { color: #6b7280; font-size: 0.9em; margin: 0.2em 0 0.4em 0; }
.cl-lines { font-family: ui-monospace, monospace; font-size: 0.88em; white-space: pre-wrap; margin: 0; }
.cl-line { display: block; color: #4b5563; }
.cl-line.cl-cited { background: #fef08a; color: #111827; }
.cl-num { display: inline-block; min-width: 2.5em; color: #9ca3af; user-select: none; }
.cl-timing { color: #9ca3af; font-size: 0.85em; }
.cl-empty { color: #6b7280; }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _markdown_safe(text: str) -> str:
    """Article text inside a chat message: HTML escaped and markdown's emphasis characters neutralised."""
    return re.sub(r"([\\`*_~#|])", r"\\\1", _e(text))


def render_lines(article: Article, first: int, last: int, cited: tuple[int, int] | None) -> str:
    lines = article.lines
    out = []
    for number in range(max(1, first), min(last, len(lines)) + 1):
        is_cited = cited is not None and cited[0] <= number <= cited[1]
        css = "cl-line cl-cited" if is_cited else "cl-line"
        mark = ' data-cited="true"' if is_cited else ""
        out.append(f'<span class="{css}" data-line="{number}"{mark}><span class="cl-num">{number}</span>'
                   f"{_e(lines[number - 1]) or '&nbsp;'}</span>")
    return f'<pre class="cl-lines">{"".join(out)}</pre>'


def render_citation(citation: Citation, article: Article) -> str:
    span = (citation.line_start, citation.line_end)
    context = render_lines(article, citation.line_start - CONTEXT_LINES, citation.line_end + CONTEXT_LINES, span)
    whole = render_lines(article, 1, len(article.lines), span)
    meta = " · ".join(
        part for part in (citation.published, citation.source, f"lines {citation.line_start}–{citation.line_end}")
        if part
    )
    return (
        f'<div class="cl-card" id="cite-{citation.n}" data-n="{citation.n}">'
        f'<div><span class="cl-n">[{citation.n}]</span> <b>{_e(citation.title or citation.source)}</b></div>'
        f'<div class="cl-meta">{_e(meta)}</div>{context}'
        f"<details><summary>Open the whole article</summary>{whole}</details></div>"
    )


def render_sources(answer: Answer | None, app: Citeline) -> str:
    if answer is None:
        return '<div class="cl-sources"><p class="cl-empty">Sources of the answer appear here.</p></div>'
    reader = app.reader()
    cards = "".join(render_citation(c, reader.article(c.article_id)) for c in answer.citations)
    if answer.abstained:
        heading = "Not in the sources: closest passages" if cards else "Not in the sources"
        return f'<div class="cl-sources cl-abstained"><h3>{heading}</h3>{cards}</div>'
    return f'<div class="cl-sources"><h3>Sources</h3>{cards}</div>'


def render_answer(answer: Answer) -> str:
    text = _markdown_safe(answer.answer)
    if answer.choices and not answer.choice:
        return f"**None of the choices is supported.** {text}"
    if answer.abstained:
        return f"**Not in the indexed articles.** {text}"
    if answer.choice:
        text = f"**Choice: {_markdown_safe(answer.choice)}**\n\n{text}"
    elif answer.short_answer:
        text = f"**{_markdown_safe(answer.short_answer)}**\n\n{text}"
    if answer.note:
        text += f"\n\n*({_markdown_safe(answer.note)})*"
    return text


def safe_upload_name(name: str) -> str:
    """A file name that cannot leave the upload folder: no directories, no leading dots, plain characters."""
    base = Path(name.replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._") or "article.txt"
    return base[:120]


def _choices(text: str | None) -> list[str]:
    """Options typed one per line; blank lines are ignored."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _day(text: str, label: str):
    text = (text or "").strip()
    if not text:
        return None
    day = to_date(text)
    if day is None:
        raise CitelineError(f"{label} must be a date like 2020-03-13, not {text!r}")
    return day


class ChatUI:
    """The app's behaviour, kept apart from the layout so each handler is a plain method."""

    def __init__(self, app: Citeline, upload_dir: Path | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES):
        self.app = app
        self.upload_dir = Path(upload_dir or Path(app.settings.index_dir) / "uploads")
        self.max_upload_bytes = max_upload_bytes
        self.write_lock = threading.Lock()

    # -- asking ------------------------------------------------------------------------------------------------------
    def ask(self, question: str, k: float = 5, since: str = "", until: str = "", as_of: str = "",
            mode: str = "extractive", choices: str = "") -> dict[str, Any]:
        """One question, one JSON answer: the contract of `rag ask --json`. `choices`: one option per line."""
        answer = self.app.ask(question, int(k), since=_day(since, "since"), until=_day(until, "until"),
                              as_of=_day(as_of, "as of"), mode=mode or "extractive", choices=_choices(choices))
        return answer.to_dict()

    def respond(self, message: str, history: list, asked: list, k: float, since: str, until: str,
                as_of: str, mode: str = "extractive", choices: str = "") -> Iterator[tuple]:
        history = list(history or [])
        asked = list(asked or [])
        try:
            question = self.app.check_question(message or "")
            searched = rewrite(question, asked)
            filters = {"since": _day(since, "since"), "until": _day(until, "until"), "as_of": _day(as_of, "as of"),
                       "choices": check_choices(_choices(choices))}
        except CitelineError as exc:
            yield history, gr.skip(), f'<span class="cl-timing">{_e(str(exc))}</span>', asked, message
            return
        history.append({"role": "user", "content": _markdown_safe(question)})
        history.append({"role": "assistant", "content": "Searching the articles…"})
        yield history, gr.skip(), "", asked, ""
        answer = None
        try:
            for item in self.app.ask_stream(searched, int(k), mode=mode or "extractive", **filters):
                if isinstance(item, Answer):
                    answer = item
                else:  # a model's draft, shown as it is written and replaced by the checked answer
                    history[-1] = {"role": "assistant", "content": f"*{_markdown_safe(item)}*"}
                    yield history, gr.skip(), "", asked, ""
        except CitelineError as exc:
            history[-1] = {"role": "assistant", "content": f"**Error:** {_markdown_safe(str(exc))}"}
            yield history, gr.skip(), "", asked, ""
            return
        assert answer is not None
        words = render_answer(answer).split(" ")
        for end in range(STREAM_WORDS, len(words), STREAM_WORDS):
            history[-1] = {"role": "assistant", "content": " ".join(words[:end]) + " …"}
            yield history, gr.skip(), "", asked, ""
        history[-1] = {"role": "assistant", "content": " ".join(words)}
        t = answer.timings_ms
        timing = f"retrieve {t['retrieve']:.0f} ms · answer {t['answer']:.0f} ms"
        if searched != question:
            timing += f" · searched as “{_e(searched)}”"
        yield (history, render_sources(answer, self.app), f'<span class="cl-timing">{timing}</span>',
               [*asked, question], "")

    # -- the collection ------------------------------------------------------------------------------------------------
    def article_rows(self) -> list[list[Any]]:
        if not self.app.has_index():
            return []
        reader = self.app.reader()
        counts = {article_id: len(rows) for article_id, rows in reader.article_rows().items()}
        return [[a.title, a.published, counts.get(a.id, 0), a.source, a.id] for a in reader.articles()]

    def article_choices(self) -> list[tuple[str, str]]:
        return [(f"{title[:70]} — {source}", article_id) for title, _, _, source, article_id in self.article_rows()]

    def upload(self, files: list[str] | None, progress=None) -> str:
        """Check every file before anything is stored; index the good ones; say what happened to each."""
        if not files:
            return "No files were given."
        messages, accepted = [], []
        for temp in files:
            temp_path = Path(temp)
            name = safe_upload_name(temp_path.name)
            try:
                size = temp_path.stat().st_size
                if size > self.max_upload_bytes:
                    raise LoadError(f"too large ({size:,} bytes; the limit is {self.max_upload_bytes:,})")
                if not name.lower().endswith(SUPPORTED_SUFFIXES):
                    raise LoadError(f"not a supported type ({', '.join(SUPPORTED_SUFFIXES)})")
                load_file(temp_path, name)
            except (LoadError, OSError) as exc:
                messages.append(f"✗ {_markdown_safe(name)}: {_markdown_safe(str(exc))} (not added)")
                continue
            accepted.append((temp_path, name))
        if accepted:
            with self.write_lock:
                self.upload_dir.mkdir(parents=True, exist_ok=True)
                stored = []
                for temp_path, name in accepted:
                    target = (self.upload_dir / name).resolve()
                    if target.parent != self.upload_dir.resolve():
                        messages.append(f"✗ {_markdown_safe(name)}: not a plain file name (not added)")
                        continue
                    shutil.copyfile(temp_path, target)
                    stored.append(target)

                def report(stage: str, done: int, total: int) -> None:
                    if progress is not None:
                        progress((done, total), desc=stage)

                result = self.app.index(stored, progress=False, on_progress=report)
            for path, reason in result.skipped:
                messages.append(f"✗ {_markdown_safe(Path(path).name)}: {_markdown_safe(reason)}")
            messages.append(
                f"✓ indexed {len(stored)} file(s): {result.articles_added} new article(s),"
                f" {result.chunks_embedded} chunks embedded; {result.articles_total} articles in all."
            )
        return "\n\n".join(messages)

    def remove(self, article_id: str | None) -> str:
        if not article_id:
            return "Choose an article to remove first."
        with self.write_lock:
            article = self.app.reader().article(article_id)
            self.app.remove([article_id])
            uploaded = self.upload_dir.resolve() / Path(article.source.split("#")[0]).name
            if uploaded.is_file() and Path(article.source).resolve() == uploaded:
                uploaded.unlink()
        return f"Removed “{_markdown_safe(article.title or article.source)}”."

    def open_article(self, article_id: str | None) -> str:
        if not article_id:
            return ""
        article = self.app.reader().article(article_id)
        return (f'<div class="cl-sources"><h3>{_e(article.title)}</h3>'
                f'<div class="cl-meta">{_e(article.published)} · {_e(article.source)}</div>'
                f"{render_lines(article, 1, len(article.lines), None)}</div>")


def build_ui(app: Citeline, upload_dir: Path | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> gr.Blocks:
    ui = ChatUI(app, upload_dir, max_upload_bytes)
    with gr.Blocks(title="Citeline") as demo:
        gr.Markdown("# Citeline\nAsk your news articles. Every answer cites the exact lines it came from.")
        asked = gr.State([])
        with gr.Tab("Ask"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Answers", height=460, elem_id="chat", sanitize_html=True)
                with gr.Row():
                    question = gr.Textbox(placeholder="Ask a question, e.g. Who was killed at Camp Taji?",
                                          show_label=False, scale=5, elem_id="question", max_lines=3)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="send")
                timing = gr.HTML("", elem_id="timing")
                gr.Examples(EXAMPLES, inputs=question, label="Try")
                with gr.Accordion("Settings", open=False):
                    k = gr.Slider(1, 10, value=app.settings.top_k, step=1, label="Passages to read (k)")
                    with gr.Row():
                        since = gr.Textbox(label="Published since (YYYY-MM-DD)", elem_id="since")
                        until = gr.Textbox(label="Published until (YYYY-MM-DD)", elem_id="until")
                        as_of = gr.Textbox(label="Ask as of (YYYY-MM-DD; default today)", elem_id="as-of")
                    mode = gr.Radio(["extractive", "llm"], value=app.settings.answer_mode, label="Answer mode",
                                    info="extractive: the articles' own sentences, no model; llm: a chat model"
                                    " (CITELINE_LLM_*), every sentence checked against its lines")
                    choices = gr.Textbox(label="Choices (one per line; empty for an open question)", lines=3,
                                         elem_id="choices")
                clear = gr.Button("New conversation", size="sm")
            with gr.Column(scale=2):
                sources = gr.HTML(render_sources(None, app), elem_id="sources")
        with gr.Tab("Articles"):
            upload = gr.File(label="Add articles (" + ", ".join(UPLOAD_TYPES) + ")", file_count="multiple",
                             file_types=UPLOAD_TYPES, type="filepath", elem_id="upload")
            status = gr.Markdown(elem_id="upload-status")
            table = gr.Dataframe(value=ui.article_rows(), headers=["Title", "Published", "Chunks", "Source", "Id"],
                                 interactive=False, elem_id="articles", wrap=True)
            with gr.Row():
                chosen = gr.Dropdown(choices=ui.article_choices(), label="Article", scale=4)
                open_button = gr.Button("Open", scale=1)
                remove_button = gr.Button("Remove from the index", variant="stop", scale=1)
            viewer = gr.HTML(elem_id="viewer")

        inputs = [question, chatbot, asked, k, since, until, as_of, mode, choices]
        outputs = [chatbot, sources, timing, asked, question]
        question.submit(ui.respond, inputs, outputs, api_name="chat")
        send.click(ui.respond, inputs, outputs, api_visibility="private")
        clear.click(lambda: ([], render_sources(None, app), "", []), None, [chatbot, sources, timing, asked],
                    api_visibility="private")

        def refresh():
            return gr.update(value=ui.article_rows()), gr.update(choices=ui.article_choices(), value=None)

        def on_upload(files, progress=gr.Progress()):  # noqa: B008 (Gradio's way of asking for a progress bar)
            return ui.upload(files, progress)

        upload.upload(on_upload, upload, status, api_name="upload").then(refresh, None, [table, chosen])
        remove_button.click(ui.remove, chosen, status, api_name="remove").then(refresh, None, [table, chosen])
        open_button.click(ui.open_article, chosen, viewer, api_visibility="private")
        demo.load(refresh, None, [table, chosen], api_visibility="private")
        gr.api(ui.ask, api_name="ask")
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, **kwargs: Any):
    return demo.launch(server_name=host, server_port=port, css=CSS, max_file_size=MAX_UPLOAD_BYTES,
                       show_error=True, footer_links=[], **kwargs)
