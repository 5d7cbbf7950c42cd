from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import ROOT, SEED, ask_json, run_rag, seed_line


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
