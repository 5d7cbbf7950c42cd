"""The chat UI: answers with [n] markers, a sources panel with the cited lines highlighted, the collection.

Every piece of article text is escaped once, for the renderer that shows it: HTML-escaped in the HTML panels,
backslash-escaped in Markdown (the chat, the upload status), so an article holding `<script>` shows those
characters and runs nothing, and an apostrophe shows as an apostrophe, not as `&#x27;`.
"""

from __future__ import annotations

import contextlib
import filecmp
import html
import os
import re
import shutil
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag.api import Citeline, as_day, check_choices
from rag.errors import ArticleNotFoundError, CitelineError
from rag.ingest.loading import SUPPORTED_SUFFIXES, LoadError, suffix_of
from rag.schema import Answer, Article, Citation
from rag.settings import Settings
from rag.text.textsafe import encodable

EXAMPLES = [
    "Who was killed at Camp Taji?",
    "How many rockets were fired?",
    "Who was killed in Jurf al-Sakher?",
    "What did Ben Wallace say?",
]
CONTEXT_LINES = 3
STREAM_WORDS = 4
MAX_NAME_BYTES = 200  # a stored upload's name, in UTF-8 bytes (file systems allow 255)
UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".gz"]
# The articles table: the title wraps; date, chunk count, source and id stay on one line, in full.
TABLE_WIDTHS = ["34%", "12%", "8%", "28%", "18%"]

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
    """Text inside HTML."""
    return html.escape(text, quote=True)


_MARKDOWN_INLINE = re.compile(r"([\\`*_~<>&|$#])")  # emphasis, code, HTML tags, entities, tables, headings
_MARKDOWN_LINK = re.compile(r"\](?=[(\[:])")  # the `]` of a link or image ("[x](y)", "[x][y]", "[x]: y")
_MARKDOWN_LINE_START = re.compile(r"^([ \t]*)(?:([-+=>])|(\d{1,9})([.)]))", re.MULTILINE)  # lists, quotes, rules


def _md(text: str) -> str:
    """Text inside Markdown, shown as written: the characters Markdown would read as markup backslash-escaped,
    so nothing becomes emphasis, a heading, a list, a link, an HTML tag or an entity (a citation marker "[1]"
    stays as it is); and nothing HTML-escaped first, which showed `&#x27;` for every apostrophe."""
    text = _MARKDOWN_LINK.sub(r"\\]", _MARKDOWN_INLINE.sub(r"\\\1", text))
    return _MARKDOWN_LINE_START.sub(lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2)
                                                           else f"{m.group(3)}\\{m.group(4)}"), text)


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
    meta = " · ".join(part for part in (citation.published, citation.source, citation.lines) if part)
    return (
        f'<div class="cl-card" id="cite-{citation.n}" data-n="{citation.n}">'
        f'<div><span class="cl-n">[{citation.n}]</span> <b>{_e(citation.title or citation.source)}</b></div>'
        f'<div class="cl-meta">{_e(meta)}</div>{context}'
        f"<details><summary>Open the whole article</summary>{whole}</details></div>"
    )


def render_sources(answer: Answer | None, app: Citeline) -> str:
    if answer is None:
        return '<div class="cl-sources"><p class="cl-empty">Sources of the answer appear here.</p></div>'
    cards = "".join(render_citation(c, article) for c in answer.citations
                    if (article := _article_or_none(app, c.article_id)) is not None)
    if answer.abstained:
        heading = "Not in the sources: closest passages" if cards else "Not in the sources"
        return f'<div class="cl-sources cl-abstained"><h3>{heading}</h3>{cards}</div>'
    return f'<div class="cl-sources"><h3>Sources</h3>{cards}</div>'


def render_answer(answer: Answer) -> str:
    text = _md(answer.answer)
    if answer.choices and not answer.choice:
        return f"**None of the choices is supported.** {text}"
    if answer.abstained:
        return f"**Not in the indexed articles.** {text}"
    if answer.choice:
        text = f"**Choice: {_md(answer.choice)}**\n\n{text}"
    elif answer.short_answer:
        text = f"**{_md(answer.short_answer)}**\n\n{text}"
    if answer.note:
        text += f"\n\n*({_md(answer.note)})*"
    return text


def _choices(text: Any) -> list[str]:
    """Options typed one per line; blank lines are ignored."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise CitelineError("choices are text, one option per line")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _article_or_none(app: Citeline, article_id: str) -> Article | None:
    """The article, or None when it was removed a moment ago (another tab, another request)."""
    try:
        return app.article(article_id)
    except ArticleNotFoundError:
        return None


def safe_upload_name(name: str) -> str:
    """A file name that cannot leave the upload folder: no directories, no leading dots, letters of any script
    kept (`a日本.txt` and `a中国.txt` stay apart), everything else a `_`, at most MAX_NAME_BYTES."""
    base = Path(encodable(str(name)).replace("\\", "/")).name
    base = re.sub(r"[^\w.-]+", "_", unicodedata.normalize("NFC", base)).lstrip("._") or "article.txt"
    suffix = suffix_of(Path(base)) if suffix_of(Path(base)) in SUPPORTED_SUFFIXES else ""
    stem = base[: len(base) - len(suffix)] if suffix else base
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return (stem or "article") + suffix


def numbered_name(name: str, n: int) -> str:
    """`a.txt`, then `a-2.txt`, `a-3.txt`: the readable part kept, the suffix (`.jsonl.gz` too) last."""
    if n == 1:
        return name
    suffix = suffix_of(Path(name)) if suffix_of(Path(name)) in SUPPORTED_SUFFIXES else ""
    return f"{name[: len(name) - len(suffix)]}-{n}{suffix}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def user_error(message: str) -> gr.Error:
    """A user's mistake, as Gradio returns it: the message to the client (escaped for the browser's error box,
    which reads HTML), and no traceback in the server's log, which is for the server's own errors."""
    return gr.Error(html.escape(message, quote=False), title="Citeline", print_exception=False)


class CitelineBlocks(gr.Blocks):
    """Blocks whose input checks are user errors. A script can send what the browser never does (k=0 to the
    slider, a mode not offered, a history that is not a conversation, a file of another type or a path it never
    uploaded): Gradio refuses it before our code runs, and would log each refusal as a server traceback."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error as exc:
            raise user_error(str(exc.message)) from None
        except ValueError as exc:  # pydantic's ValidationError, Gradio's InvalidPathError, a wrong number of inputs
            first = (str(exc).strip().splitlines() or ["not what this endpoint takes"])[0]
            raise user_error(f"the request does not fit this endpoint's inputs: {first}") from None


class ChatUI:
    """The app's behaviour, kept apart from the layout so each handler is a plain method."""

    def __init__(self, app: Citeline, upload_dir: Path | None = None, max_upload_bytes: int | None = None):
        self.app = app
        self.upload_dir = Path(upload_dir or Path(app.settings.index_dir) / "uploads")
        self.max_upload_bytes = max_upload_bytes or app.settings.limits.max_upload_bytes
        self.write_lock = threading.Lock()

    # -- asking ------------------------------------------------------------------------------------------------------
    def ask(self, question: str, k: float = 5, since: str = "", until: str = "", as_of: str = "",
            mode: str = "extractive", choices: str = "") -> dict[str, Any]:
        """One question, one JSON answer: the contract of `rag ask --json`. `choices`: one option per line. A
        user's error is a message (gr.Error, which the client raises), never a logged traceback."""
        try:
            answer = self.app.ask(question, k, since=since, until=until, as_of=as_of, mode=mode or "extractive",
                                  choices=_choices(choices))
        except CitelineError as exc:
            raise user_error(str(exc)) from None
        return answer.to_dict()

    def _check(self, message: Any, asked: list, k: Any, since: Any, until: Any, as_of: Any, mode: Any,
               choices: Any = "") -> tuple:
        """Everything about a chat question that can be wrong, checked before it enters the conversation."""
        question = self.app.check_question(self.app.clean_question(message if message is not None else ""))
        options = {"k": self.app.top_k(k), "since": as_day(since, "since"), "until": as_day(until, "until"),
                   "as_of": as_day(as_of, "as of"), "mode": self.app.answer_mode(mode or "extractive"),
                   "choices": check_choices(_choices(choices)), "history": [q for q in asked if isinstance(q, str)]}
        return question, options

    def respond(self, message: str, history: list, asked: list, k: float, since: str, until: str,
                as_of: str, mode: str = "extractive", choices: str = "") -> Iterator[tuple]:
        history = list(history or [])
        asked = list(asked or [])
        try:
            question, options = self._check(message, asked, k, since, until, as_of, mode, choices)
        except CitelineError as exc:
            yield history, gr.skip(), f'<span class="cl-timing cl-error">{_e(str(exc))}</span>', asked, gr.skip()
            return
        history.append({"role": "user", "content": _md(question)})
        history.append({"role": "assistant", "content": "Searching the articles…"})
        yield history, gr.skip(), "", asked, ""
        answer = None
        try:
            for item in self.app.ask_stream(question, **options):
                if isinstance(item, Answer):
                    answer = item
                else:  # a model's draft, shown as it is written and replaced by the checked answer
                    history[-1] = {"role": "assistant", "content": f"*{_md(item)}*"}
                    yield history, gr.skip(), "", asked, ""
            sources = render_sources(answer, self.app)
        except CitelineError as exc:
            history[-1] = {"role": "assistant", "content": f"**Error:** {_md(str(exc))}"}
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
        if answer.searched:
            timing += f" · searched as “{_e(answer.searched)}”"
        yield history, sources, f'<span class="cl-timing">{timing}</span>', [*asked, question], ""

    # -- the collection ------------------------------------------------------------------------------------------------
    def article_table(self) -> list[list[Any]]:
        try:
            if not self.app.has_index():
                return []
            return [[a.title, a.published, a.chunks, a.source, a.id] for a in self.app.articles()]
        except CitelineError:  # a damaged index: the chat says so when asked; the table shows nothing
            return []

    def article_choices(self) -> list[tuple[str, str]]:
        return [(f"{title[:70]} — {source}", article_id) for title, _, _, source, article_id in self.article_table()]

    def _indexed_ids(self) -> set[str]:
        """Ids of the indexed articles, from the chunk table alone (the texts are not needed to tell new ones)."""
        try:
            return self.app.article_ids() if self.app.has_index() else set()
        except CitelineError:
            return set()

    def _check_upload(self, temp: Any) -> tuple[Path, str, list[str]]:
        """The uploaded file, the name it is stored under, and its articles' ids; LoadError says what is wrong."""
        if not isinstance(temp, str | os.PathLike):
            raise LoadError(f"not a file ({type(temp).__name__})")
        temp_path = Path(temp)
        name = safe_upload_name(temp_path.name)
        size = temp_path.stat().st_size if temp_path.is_file() else 0
        if size > self.max_upload_bytes:
            raise LoadError(f"too large ({size:,} bytes; the limit is {self.max_upload_bytes:,},"
                            " CITELINE_MAX_UPLOAD_BYTES); index large collections with `rag index`")
        if suffix_of(Path(name)) not in SUPPORTED_SUFFIXES:
            raise LoadError(f"not a supported type ({', '.join(SUPPORTED_SUFFIXES)})")
        articles = self.app.read_file(temp_path, name, upload=True)
        return temp_path, name, list(dict.fromkeys(a.id for a in articles))

    def _store(self, temp_path: Path, name: str) -> tuple[Path, str, bool]:
        """Copy an upload into the upload folder under a name no earlier upload has. Returns the stored path, a
        note on the name, and whether a new file was written (an identical earlier upload is reused)."""
        for n in range(1, 10_000):
            candidate = numbered_name(name, n)
            target = self.upload_dir / candidate
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                if target.is_file() and filecmp.cmp(target, temp_path, shallow=False):
                    return target, f"the same file as the earlier upload {candidate}", False
                continue
            try:
                with os.fdopen(fd, "wb") as out, open(temp_path, "rb") as source:
                    shutil.copyfileobj(source, out)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            note = "" if n == 1 else f"stored as {candidate}: an earlier upload has the name {name}"
            return target, note, True
        raise LoadError(f"too many uploads named {name}")

    def upload(self, files: list[str] | None, progress=None) -> str:
        """Check every file before anything is stored; store each under its own name; index the good ones; say
        what happened to each, and never replace an earlier upload."""
        if not files:
            return "No files were given."
        messages, accepted = [], []
        for temp in files if isinstance(files, list | tuple) else [files]:
            try:
                accepted.append(self._check_upload(temp))
            except (LoadError, OSError) as exc:
                shown = safe_upload_name(Path(temp).name) if isinstance(temp, str | os.PathLike) else "?"
                messages.append(f"✗ {_md(shown)}: {_md(str(exc))} (not added)")
        if accepted:
            with self.write_lock:
                messages.extend(self._store_and_index(accepted, progress))
        return "\n\n".join(messages)

    def _store_and_index(self, accepted: list[tuple[Path, str, list[str]]], progress) -> list[str]:
        known = self._indexed_ids()
        stored, written, lines = [], [], []
        try:
            self.upload_dir.mkdir(parents=True, exist_ok=True)
            for temp_path, name, ids in accepted:
                target, note, new_file = self._store(temp_path, name)
                stored.append(target)
                written += [target] if new_file else []
                fresh = [i for i in ids if i not in known]
                known.update(ids)
                what = (f"{_plural(len(fresh), 'new article')}" if fresh else
                        "already indexed, no new article")
                if len(ids) > 1:
                    what = f"{_plural(len(ids), 'article')}, {len(fresh):,} new"
                lines.append(f"✓ {_md(name)}{f' ({_md(note)})' if note else ''}: {what}")

            def report(stage: str, done: int, total: int) -> None:
                if progress is not None:
                    progress((done, total), desc=stage)

            result = self.app.index(stored, progress=False, on_progress=report)
        except (CitelineError, OSError, LoadError) as exc:
            for path in written:  # nothing half-done: files of an upload that was not indexed go again
                with contextlib.suppress(OSError):
                    path.unlink()
            return [f"✗ not added: {_md(str(exc))}"]
        lines += [f"✗ {_md(Path(path).name)}: {_md(reason)}" for path, reason in result.skipped]
        lines.append(f"✓ indexed {_plural(len(stored), 'file')}: {_plural(result.articles_added, 'new article')},"
                     f" {result.chunks_embedded} chunks embedded; {result.articles_total} articles in all.")
        return lines

    def _article(self, article_id: Any) -> Article | None:
        if not isinstance(article_id, str) or not article_id:
            return None
        try:
            return _article_or_none(self.app, article_id)
        except CitelineError:
            return None

    def ask_to_remove(self, article_id: str | None) -> tuple:
        """The first step of a removal: say what would go, and wait for a yes."""
        article = self._article(article_id)
        if article is None:
            return gr.update(visible=False), "", "Choose an article to remove first."
        uploaded = " Its uploaded file is deleted too." if self._uploaded_file(article) else ""
        question = f"Remove “{_md(article.title or article.source)}” from the index?{uploaded}"
        return gr.update(visible=True), question, ""

    def _uploaded_file(self, article: Article) -> Path | None:
        """The file in the upload folder that holds this article, if it came from an upload."""
        path = self.upload_dir.resolve() / Path(article.source.split("#")[0]).name
        return path if path.is_file() and Path(article.source.split("#")[0]).resolve() == path else None

    def remove(self, article_id: str | None) -> str:
        article = self._article(article_id)
        if article is None:
            return "Choose an article to remove first." if not article_id else "No such article (it was removed?)."
        with self.write_lock:
            uploaded = self._uploaded_file(article)
            try:
                self.app.remove([article.id])
            except CitelineError as exc:
                return f"✗ not removed: {_md(str(exc))}"
            key = str(uploaded) if uploaded else ""
            if uploaded is not None and key not in self.app.stats().files:  # no other article still comes from it
                with contextlib.suppress(OSError):
                    uploaded.unlink()
        return f"Removed “{_md(article.title or article.source)}”."

    def open_article(self, article_id: str | None) -> str:
        article = self._article(article_id)
        if article is None:
            return ""
        return (f'<div class="cl-sources" data-article="{_e(article.id)}"><h3>{_e(article.title)}</h3>'
                f'<div class="cl-meta">{_e(article.published)} · {_e(article.source)}</div>'
                f"{render_lines(article, 1, len(article.lines), None)}</div>")


def build_ui(app: Citeline, upload_dir: Path | None = None, max_upload_bytes: int | None = None) -> gr.Blocks:
    ui = ChatUI(app, upload_dir, max_upload_bytes)
    with CitelineBlocks(title="Citeline") as demo:
        gr.Markdown("# Citeline\nAsk your news articles. Every answer cites the exact lines it came from.")
        asked = gr.State([])
        with gr.Tab("Ask"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Answers", height=460, elem_id="chat", sanitize_html=True,
                                     latex_delimiters=[])
                with gr.Row():
                    question = gr.Textbox(placeholder="Ask a question, e.g. Who was killed at Camp Taji?",
                                          show_label=False, scale=5, elem_id="question", max_lines=3)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="send")
                timing = gr.HTML("", elem_id="timing")
                gr.Examples(EXAMPLES, inputs=question, label="Try")
                k, since, until, as_of, mode, choices = _settings_panel(app)
                clear = gr.Button("New conversation", size="sm")
            with gr.Column(scale=2):
                sources = gr.HTML(render_sources(None, app), elem_id="sources")
        with gr.Tab("Articles"):
            refresh, collection = _articles_tab(ui)

        inputs = [question, chatbot, asked, k, since, until, as_of, mode, choices]
        outputs = [chatbot, sources, timing, asked, question]
        question.submit(ui.respond, inputs, outputs, api_name="chat")
        send.click(ui.respond, inputs, outputs, api_visibility="private")
        clear.click(lambda: ([], render_sources(None, app), "", []), None, [chatbot, sources, timing, asked],
                    api_visibility="private")
        demo.load(refresh, None, collection, api_visibility="private")
        gr.api(ui.ask, api_name="ask")
    return demo


def _settings_panel(app: Citeline) -> tuple:
    with gr.Accordion("Settings", open=False):
        k = gr.Slider(1, 10, value=min(app.settings.retrieval.top_k, 10), step=1, label="Passages to read (k)")
        with gr.Row():
            since = gr.Textbox(label="Published since (YYYY-MM-DD)", elem_id="since")
            until = gr.Textbox(label="Published until (YYYY-MM-DD)", elem_id="until")
            as_of = gr.Textbox(label="Ask as of (YYYY-MM-DD; default today)", elem_id="as-of")
        mode = gr.Radio(["extractive", "llm"], value=app.settings.answer.mode, label="Answer mode",
                        info="extractive: the articles' own sentences, no model; llm: a chat model (the llm extra,"
                        " pip install 'citeline[llm]', and CITELINE_LLM_*), every sentence checked against its"
                        " lines; without a model, the extractive answer with a note")
        choices = gr.Textbox(label="Choices (one per line; empty for an open question)", lines=3, elem_id="choices")
    return k, since, until, as_of, mode, choices


def _articles_tab(ui: ChatUI) -> tuple:
    """The collection: upload, the table, open, remove (after a yes). Returns what a page load refreshes."""
    upload = gr.File(label="Add articles (" + ", ".join(UPLOAD_TYPES) + f"; {ui.max_upload_bytes // 1_000_000} MB a"
                     " file at most)", file_count="multiple", file_types=UPLOAD_TYPES, type="filepath",
                     elem_id="upload")
    status = gr.Markdown(elem_id="upload-status")
    table = gr.Dataframe(value=ui.article_table(), headers=["Title", "Published", "Chunks", "Source", "Id"],
                         datatype=["str", "str", "number", "str", "str"], interactive=False, elem_id="articles",
                         wrap=True, column_widths=TABLE_WIDTHS)
    with gr.Row():
        chosen = gr.Dropdown(choices=ui.article_choices(), label="Article", scale=4, elem_id="chosen",
                             allow_custom_value=True)  # an id that is not there is our message, not Gradio's
        open_button = gr.Button("Open", scale=1, elem_id="open")
        remove_button = gr.Button("Remove…", variant="stop", scale=1, elem_id="remove")
    with gr.Row(visible=False, elem_id="confirm-remove") as confirm_row:
        confirm_text = gr.Markdown(elem_id="confirm-text")
        yes = gr.Button("Yes, remove it", variant="stop", scale=0, elem_id="confirm-yes")
        no = gr.Button("Cancel", scale=0, elem_id="confirm-no")
    viewer = gr.HTML(elem_id="viewer")

    def refresh():
        return gr.update(value=ui.article_table()), gr.update(choices=ui.article_choices(), value=None)

    def on_upload(files, progress=gr.Progress()):  # noqa: B008 (Gradio's way of asking for a progress bar)
        return ui.upload(files, progress)

    hidden = gr.update(visible=False)
    upload.upload(on_upload, upload, status, api_name="upload").then(refresh, None, [table, chosen])
    remove_button.click(ui.ask_to_remove, chosen, [confirm_row, confirm_text, status], api_visibility="private")
    no.click(lambda: hidden, None, confirm_row, api_visibility="private")
    chosen.change(lambda: hidden, None, confirm_row, api_visibility="private")
    yes.click(ui.remove, chosen, status, api_name="remove").then(
        lambda: (hidden, ""), None, [confirm_row, viewer], api_visibility="private").then(refresh, None,
                                                                                         [table, chosen])
    open_button.click(ui.open_article, chosen, viewer, api_visibility="private")
    return refresh, [table, chosen]


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, max_file_size: int | None = None,
           **kwargs: Any):
    limit = max_file_size or Settings().limits.max_upload_bytes
    return demo.launch(server_name=host, server_port=port, css=CSS, max_file_size=limit,
                       show_error=True, footer_links=[], **kwargs)
