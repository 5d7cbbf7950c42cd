from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEED, ask_json, run_rag, seed_line

pytestmark = pytest.mark.slow  # every test runs `rag` in a new process


@pytest.fixture(scope="module")
def cli_index(seed_index_dir) -> str:
    return str(seed_index_dir)


def test_camp_taji_json(cli_index):
    data = ask_json("Who was killed at Camp Taji?", "--index-dir", cli_index)
    assert data["abstained"] is False
    assert "Two Americans" in data["answer"] and "British soldier" in data["answer"]
    line12 = [c for c in data["citations"] if c["line_start"] <= 12 <= c["line_end"]]
    assert line12 and line12[0]["quote"] == seed_line(12)
    assert line12[0]["source"] == f"seeds/{SEED.name}"
    assert set(data["timings_ms"]) == {"retrieve", "answer", "total"}


def test_jurf_al_sakher_json(cli_index):
    data = ask_json("Who was killed in Jurf al-Sakher?", "--index-dir", cli_index)
    assert any(c["line_start"] <= 24 <= c["line_end"] for c in data["citations"])
    assert data["citations"][0]["quote"] == seed_line(24)


def test_super_bowl_abstains(cli_index):
    data = ask_json("Who won the 2020 Super Bowl?", "--index-dir", cli_index)
    assert data["abstained"] is True


def test_text_output_lists_numbered_sources(cli_index):
    result = run_rag("ask", "Who was killed at Camp Taji?", "--index-dir", cli_index)
    assert result.returncode == 0, result.stderr
    assert f"[1] seeds/{SEED.name}, line 12: {seed_line(12)}" in result.stdout


@pytest.mark.parametrize(("question", "message"), [("   ", "empty"), ("why " * 1000, "limit")])
def test_bad_questions_exit_non_zero_with_a_message(cli_index, question, message):
    result = run_rag("ask", question, "--index-dir", cli_index)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_ask_without_an_index_indexes_seeds_first(tmp_path):
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    result = run_rag("ask", "Who was killed at Camp Taji?", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "indexing seeds/ first" in result.stderr
    data = json.loads(result.stdout)
    assert any(c["line_start"] == 12 for c in data["citations"])
    assert (tmp_path / "index" / "manifest.json").exists()


def test_index_command_reports_skips_and_counts(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SEED, folder)
    (folder / "empty.txt").write_bytes(b"")
    index_dir = tmp_path / "index"
    result = run_rag("index", str(folder), "--index-dir", str(index_dir))
    assert result.returncode == 0, result.stderr
    assert "empty.txt: empty" in result.stderr
    assert "1 articles" in result.stdout
    again = run_rag("index", str(folder), "--index-dir", str(index_dir))
    assert "up to date" in again.stdout and "nothing embedded" in again.stdout
    listing = run_rag("list", "--index-dir", str(index_dir), "--json")
    [record] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert record["published"] == "2020-03-13" and record["chunks"] > 0
    shown = run_rag("show", record["id"], "--lines", "12-12", "--index-dir", str(index_dir))
    assert shown.stdout.rstrip("\n").endswith(seed_line(12))


def test_missing_index_and_no_seeds(tmp_path):
    result = run_rag("ask", "Who was killed?", "--index-dir", str(tmp_path / "none"), cwd=tmp_path)
    assert result.returncode == 2 and "rag index" in result.stderr and "Traceback" not in result.stderr


def test_date_filters_from_the_command_line(cli_index):
    data = ask_json("Who was killed at Camp Taji?", "--index-dir", cli_index, "--until", "2020-12-31",
                    "--as-of", "2020-03-14")
    assert any(c["line_start"] == 12 for c in data["citations"])
    later = ask_json("Who was killed at Camp Taji?", "--index-dir", cli_index, "--since", "2021-01-01")
    assert later["abstained"] is True and later["citations"] == []
    bad = run_rag("ask", "Who was killed at Camp Taji?", "--index-dir", cli_index, "--since", "2021-13-01")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr


def test_an_empty_folder_writes_no_index(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_rag("index", str(tmp_path / "empty"), "--index-dir", str(tmp_path / "index"))
    assert result.returncode == 1 and "nothing to index" in result.stderr
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_only_bad_files_leave_an_existing_index_unchanged(cli_index, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(cli_index, index_dir)
    (tmp_path / "photo.txt").write_bytes(b"\x89PNG\x00\x00" * 20)
    result = run_rag("index", str(tmp_path / "photo.txt"), "--index-dir", str(index_dir))
    assert result.returncode == 1 and "binary" in result.stderr
    assert "every file was skipped; the index is unchanged" in result.stderr and "Traceback" not in result.stderr
    listing = run_rag("list", "--index-dir", str(index_dir), "--json")
    assert len(listing.stdout.splitlines()) == 1


# -- issue 11 ------------------------------------------------------------------------------------------------------
def test_ask_and_list_name_the_index_in_use(cli_index):
    listing = run_rag("list", "--index-dir", cli_index)
    asked = run_rag("ask", "Who was killed at Camp Taji?", "--index-dir", cli_index, "--json")
    for result in (listing, asked):
        assert result.returncode == 0, result.stderr
        assert f"Index: {Path(cli_index).resolve()} (1 article;" in result.stderr
        assert "CITELINE_INDEX_DIR" in result.stderr
    assert json.loads(asked.stdout)["citations"]  # stdout stays one JSON object


def test_show_takes_what_list_shows(cli_index):
    [record] = [json.loads(line) for line in run_rag("list", "--json", "--index-dir", cli_index).stdout.splitlines()]
    for name in (SEED.name, record["id"], record["id"][:8], record["source"]):
        shown = run_rag("show", name, "--lines", "12", "--index-dir", cli_index)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.rstrip("\n").endswith(seed_line(12))
    for lines, message in (("abc", "FIRST-LAST"), ("14-10", "FIRST-LAST"), ("999", "past its end")):
        bad = run_rag("show", SEED.name, "--lines", lines, "--index-dir", cli_index)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr


def test_terminal_escapes_never_reach_the_terminal(cli_index, tmp_path):
    asked = run_rag("ask", "\x1b[31mWho was killed at Camp Taji?\x1b]0;owned\x07", "--index-dir", cli_index)
    assert asked.returncode == 0 and "Two Americans" in asked.stdout
    assert "\x1b" not in asked.stdout + asked.stderr and "\x07" not in asked.stdout
    corpus = tmp_path / "controls.jsonl"
    corpus.write_text(json.dumps({"id": "c1", "text": "Controls\n\nThe \x1b[2JHarwick mayor\x00 said hello."}) + "\n",
                      encoding="utf-8")
    index_dir = tmp_path / "index"
    assert run_rag("index", str(corpus), "--index-dir", str(index_dir), "-q").returncode == 0
    shown = run_rag("show", "c1", "--index-dir", str(index_dir))
    assert "The Harwick mayor said hello." in shown.stdout and "\x1b" not in shown.stdout + shown.stderr


def test_a_question_that_is_not_utf8_is_a_message(cli_index):
    result = subprocess.run([sys.executable, "-m", "rag", "ask", b"Who was killed at \xff\xfe Taji?", "--index-dir",
                             cli_index], cwd=ROOT, capture_output=True, timeout=120)
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2 and "not UTF-8" in err and "Traceback" not in err and result.stdout == b""


def test_an_index_dir_that_is_a_file_is_a_message(tmp_path):
    path = tmp_path / "index"
    path.write_text("a file")
    for args in (("ask", "Who was killed at Camp Taji?"), ("index", str(SEED)), ("list",)):
        result = run_rag(*args, "--index-dir", str(path), cwd=tmp_path)
        assert result.returncode == 2 and "is a file, not a folder" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert path.read_text() == "a file"


def test_a_fifo_or_dev_zero_never_blocks_the_index(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    os.mkfifo(folder / "pipe.txt")
    (folder / "zero.txt").symlink_to("/dev/zero")
    shutil.copy(SEED, folder)
    index_dir = tmp_path / "index"
    result = run_rag("index", str(folder), "--index-dir", str(index_dir), "-q", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pipe.txt: not a regular file (a FIFO (named pipe))" in result.stderr
    assert "zero.txt: not a regular file (a character device)" in result.stderr
    assert "1 articles" in result.stdout
    again = run_rag("index", str(folder / "pipe.txt"), "--index-dir", str(index_dir), timeout=120)
    assert again.returncode == 1 and "another `rag index`" not in again.stderr  # the lock was released


def test_a_deleted_manifest_is_never_replaced_by_the_seeds(cli_index, tmp_path):
    """`rag ask` with seeds/ at hand once re-indexed them into the folder, over the index that was left."""
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    index_dir = tmp_path / "index"
    shutil.copytree(cli_index, index_dir)
    (index_dir / "manifest.json").unlink()
    before = {p.name: p.read_bytes() for p in index_dir.rglob("*") if p.is_file()}
    for args in (("ask", "Who was killed at Camp Taji?"), ("list",), ("index", "seeds")):
        result = run_rag(*args, "--index-dir", "index", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "no manifest.json" in result.stderr and "--rebuild" in result.stderr
        assert "indexing seeds" not in result.stderr and "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in index_dir.rglob("*") if p.is_file() and p.name != ".lock"} == {
        name: data for name, data in before.items() if name != ".lock"}
    rebuilt = run_rag("index", "--rebuild", "seeds", "--index-dir", "index", cwd=tmp_path)
    assert rebuilt.returncode == 0 and "1 articles" in rebuilt.stdout


needs_root = pytest.mark.skipif(
    not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("setpriv") and shutil.which("unshare")),
    reason="needs root: setpriv to act as another user, unshare to mount a full or read-only file system"
    " (CI runs as root)")


@pytest.fixture
def shared(cli_index):
    """A copy of the seed index in a folder every user can reach (pytest's own are private to their owner)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="citeline-shared-"))
    folder.chmod(0o755)
    shutil.copytree(cli_index, folder / "index")
    for path in [folder / "index", *(folder / "index").rglob("*")]:
        if path.is_dir():  # as `rag index` makes them; pytest's temporary folders are 0700
            path.chmod(0o755)
    (folder / "home").mkdir()
    os.chown(folder / "home", 65534, 65534)
    new = folder / "new.txt"
    new.write_text("Harwick pier painted\n\nThe Harwick pier was painted blue on Monday.\n", encoding="utf-8")
    new.chmod(0o644)
    for model in Path(os.environ["CITELINE_MODEL_CACHE"]).glob("*.onnx"):  # as exports are written now
        model.chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _files(index_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in index_dir.rglob("*") if p.is_file() and p.name != ".lock"}


def _rag_as(user_prefix: list[str], *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([*user_prefix, sys.executable, "-m", "rag", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


@needs_root
def test_another_users_index_is_read_but_never_written(shared):
    index = shared / "index"
    before = _files(index)
    env = {"HOME": str(shared / "home")}
    asked = _rag_as(NOBODY, "ask", "Who was killed at Camp Taji?", "--index-dir", str(index), cwd=shared, env=env)
    assert asked.returncode == 0 and "Two Americans" in asked.stdout, asked.stderr
    written = _rag_as(NOBODY, "index", str(shared / "new.txt"), "--index-dir", str(index), cwd=shared, env=env)
    assert written.returncode == 2 and "Permission denied" in written.stderr and "unchanged" in written.stderr
    assert "Traceback" not in written.stderr and _files(index) == before
    (index / "manifest.json").chmod(0o600)  # as indexes were written before: the manifest private to its owner
    private = _rag_as(NOBODY, "ask", "Who was killed at Camp Taji?", "--index-dir", str(index), cwd=shared, env=env)
    assert private.returncode == 2 and "permission denied" in private.stderr and "chmod" in private.stderr
    assert "Traceback" not in private.stderr


@needs_root
def test_a_read_only_file_system_is_read_but_never_written(shared):
    index = shared / "index"
    read_only = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                 'mount --bind -o ro "$0" "$0" && exec "$@"', str(index)]
    written = _rag_as(read_only, "index", str(shared / "new.txt"), "--index-dir", str(index), cwd=shared)
    assert written.returncode == 2 and "Read-only file system" in written.stderr, written.stderr
    assert "Traceback" not in written.stderr
    asked = _rag_as(read_only, "ask", "Who was killed at Camp Taji?", "--index-dir", str(index), cwd=shared)
    assert asked.returncode == 0 and "Two Americans" in asked.stdout


@needs_root
def test_a_full_disk_loses_nothing(shared):
    """A build that fills the disk: a message that says so, and the index in force still answers."""
    index, disk = shared / "index", shared / "disk"
    disk.mkdir()
    big = shared / "big.txt"
    big.write_text("Big report\n\n" + "".join(f"Line {n} of a long Harwick report about bridge {n}.\n"
                                              for n in range(30_000)), encoding="utf-8")
    size = sum(p.stat().st_size for p in index.rglob("*") if p.is_file()) + 400_000
    script = (f'mount -t tmpfs -o size={size} tmpfs "{disk}" && cp -a "{index}/." "{disk}/" &&'
              f' "$0" -m rag index "{big}" --index-dir "{disk}" -q; echo "INDEX=$?" >&2;'
              f' "$0" -m rag list --json --index-dir "{disk}";'
              f' "$0" -m rag ask "Who was killed at Camp Taji?" --json --index-dir "{disk}"')
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, sys.executable],
                            cwd=shared, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
                            timeout=300)
    assert "INDEX=2" in result.stderr and "no space left on the disk" in result.stderr, result.stderr
    assert "The index in force is unchanged" in result.stderr and "Traceback" not in result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["chunks"] > 0  # one article listed, then the answer
    assert any(c["line_start"] == 12 for c in json.loads(lines[1])["citations"])
