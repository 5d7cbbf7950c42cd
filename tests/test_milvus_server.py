"""The Milvus backend against a real Milvus server (PyPI `milvus`, standalone on 127.0.0.1, started and stopped by
this module) and against Milvus Lite: segments, `rag serve` and `rag index` in two processes at once, a server
restart between build and question, and a build killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from rag.api import Citeline
from rag.errors import CitelineError
from rag.index.store import read_manifest
from rag.settings import Settings
from tests.conftest import ROOT, SEED, milvus_collections

pytestmark = pytest.mark.slow  # a real database server

QUESTION = "Who was killed at Camp Taji?"
FLOOD = "Flood hits Harwick\n\nThe river Ash rose two metres overnight in Harwick, and 40 homes were flooded.\n"


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A Milvus standalone server for the whole session: its data in a temporary folder, stopped at the end."""
    milvus = pytest.importorskip("milvus", reason="the dev extra installs the milvus server package")
    server = milvus.default_server
    server.set_base_dir(str(tmp_path_factory.mktemp("milvus-server")))
    server.start()
    server.config.update(proxy_port=server.listen_port)  # the same port after a restart: indexes record the URI
    try:
        yield server
    finally:
        server.stop()


def server_uri(server) -> str:
    return f"http://127.0.0.1:{server.listen_port}"


def restart(server, timeout: float = 120.0) -> None:
    """Start the stopped server on its port (which may be held a moment by closing connections), and wait until
    it answers a client (its health check passes a little before)."""
    from pymilvus import MilvusClient

    deadline = time.monotonic() + timeout
    while True:
        try:
            server.start()
            break
        except RuntimeError:  # "bind failed": the port is not free yet
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    while True:
        try:
            MilvusClient(uri=server_uri(server), timeout=5).close()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def server_collections(server) -> dict[str, int]:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=server_uri(server))
    try:
        return {name: int(client.get_collection_stats(name)["row_count"]) for name in client.list_collections()}
    finally:
        client.close()


@pytest.fixture(params=["lite", "server"])
def milvus_app(request, embedder, tmp_path):
    """A Citeline whose vectors are in Milvus Lite (a file in the index folder) or in the Milvus server, under a
    collection prefix of its own; and a function that lists this index's collections with their rows."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = {"vector_store": "milvus", "milvus_collection": prefix}
    if request.param == "server":
        server = request.getfixturevalue("milvus_server")
        settings["milvus_uri"] = server_uri(server)

        def collections() -> dict[str, int]:
            return {k: v for k, v in server_collections(server).items() if k.startswith(prefix)}
    else:
        server = None

        def collections() -> dict[str, int]:
            return milvus_collections(tmp_path / "index")
    app = Citeline(Settings(index_dir=tmp_path / "index", **settings), embedder=embedder)
    yield app, collections, server, prefix
    app.close()


def test_segments_in_milvus_and_a_server_restart_between_build_and_question(milvus_app, tmp_path):
    app, collections, server, prefix = milvus_app
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "seed.txt").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "storm.txt").write_text("Storm closes Harwick port\n\nFerries stayed in port all week.\n",
                                      encoding="utf-8")
    app.index([folder], progress=False)
    (folder / "flood.txt").write_text(FLOOD, encoding="utf-8")
    added = app.index([folder], progress=False)
    manifest = read_manifest(app.index_dir)
    assert added.articles_added == 1 and [s.live_articles for s in manifest.segments] == [2, 1]
    assert set(collections()) == {f"{prefix}_g000001", f"{prefix}_g000002"}
    assert "two metres" in app.retrieve("How far did the river Ash rise in Harwick?", 1)[0].chunk.text
    seed_id = next(a.id for a in app.reader().articles() if a.title.startswith("US launches"))
    app.remove(seed_id)
    assert all(h.article.id != seed_id for h in app.retrieve(QUESTION, 5))
    assert app.compact().written
    [segment] = read_manifest(app.index_dir).segments
    assert segment.live_articles == segment.articles == 2
    assert collections()[segment.vectors["collection"]] == segment.vectors["vectors"]
    app.close()
    if server is not None:  # the server goes down and comes back; the index answers from what it stored
        server.stop()
        restart(server)
    again = Citeline(app.settings, embedder=app.embedder)
    deadline = time.monotonic() + 180
    while True:  # a restarted Milvus recovers its collections for a while after it accepts connections
        try:
            hits = again.retrieve("How far did the river Ash rise in Harwick?", 1)
            break
        except CitelineError:
            if time.monotonic() > deadline:
                raise
            again.close()
            time.sleep(2)
    assert "two metres" in hits[0].chunk.text
    again.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(server, prefix: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "CITELINE_VECTOR_STORE": "milvus",
            "CITELINE_MILVUS_URI": server_uri(server), "CITELINE_MILVUS_COLLECTION": prefix}


def test_rag_serve_and_rag_index_in_two_processes_at_once(milvus_server, tmp_path):
    """Milvus Lite serves one process per file; a server serves the chat and a build at the same time."""
    from gradio_client import Client

    prefix = f"t{uuid.uuid4().hex[:10]}"
    env = _env(milvus_server, prefix)
    index_dir = str(tmp_path / "index")
    built = subprocess.run([sys.executable, "-m", "rag", "index", str(SEED), "--index-dir", index_dir, "-q"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    port = _free_port()
    serve = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port), "--index-dir", index_dir],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert serve.poll() is None, serve.stderr.read()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        first = client.predict(QUESTION, 5, "", "", "", api_name="/ask")
        assert any(c["line_start"] <= 12 <= c["line_end"] for c in first["citations"])
        flood = tmp_path / "flood.txt"
        flood.write_text(FLOOD, encoding="utf-8")
        added = subprocess.run([sys.executable, "-m", "rag", "index", str(flood), "--index-dir", index_dir, "-q"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert added.returncode == 0, added.stderr  # while the chat server holds the same Milvus
        answer = client.predict("How many homes were flooded in Harwick?", 5, "", "", "", api_name="/ask")
        assert any("40 homes" in c["quote"] for c in answer["citations"])
        assert serve.poll() is None
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait(timeout=30)


def test_a_build_killed_against_the_server_leaves_the_previous_segments_answering(milvus_server, embedder,
                                                                                   tmp_path):
    """Killed the moment its new segment's files appear: its vectors are on their way to the server (the kill
    tests of tests/test_store.py cover the other moments on the local store)."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings(index_dir=tmp_path / "index", vector_store="milvus", milvus_uri=server_uri(milvus_server),
                        milvus_collection=prefix)
    app = Citeline(settings, embedder=embedder)
    app.index([SEED], progress=False)
    before = read_manifest(app.index_dir)
    folder = tmp_path / "many"
    folder.mkdir()
    base = SEED.read_text(encoding="utf-8")
    for i in range(40):  # enough that writing the segment (and sending its vectors) takes a while
        (folder / f"copy{i:03d}.txt").write_text(f"Copy {i}\n\n{base}\n\nEdition {i}.", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "rag", "index", str(folder), "--index-dir",
                                str(app.index_dir), "-q"], cwd=ROOT, env=_env(milvus_server, prefix),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while process.poll() is None and time.monotonic() < deadline and \
                not any(".tmp" in p.name for p in app.index_dir.iterdir()):
            time.sleep(0.002)
        assert process.poll() is None, "the build finished before it could be killed; give it more work"
    finally:  # the build and the workers it started (spaCy's), as `kill -9` of a job does
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    after = read_manifest(app.index_dir)
    assert after.generation == before.generation and after.counts == before.counts
    assert any(h.chunk.line_start <= 12 <= h.chunk.line_end for h in app.retrieve(QUESTION, 3))
    # The next build goes through and drops whatever the killed one left on the server.
    flood = tmp_path / "flood.txt"
    flood.write_text(FLOOD, encoding="utf-8")
    report = app.index([SEED, flood], progress=False)
    assert report.written and report.articles_total == 2
    manifest = read_manifest(app.index_dir)
    names = {k for k in server_collections(milvus_server) if k.startswith(prefix)}
    assert names == {s.vectors["collection"] for s in manifest.segments}
    assert "40 homes" in app.retrieve("How many homes were flooded in Harwick?", 1)[0].chunk.text
    app.close()
