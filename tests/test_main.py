"""`python -m rag` (rag/__main__.py): the same command as `rag`, fast enough for the fast tier (no index, no model)."""

from __future__ import annotations

import subprocess
import sys

from rag import __version__


def _rag(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, timeout=60)


def test_version():
    assert _rag("--version").stdout.split() == ["citeline", __version__]


def test_a_bad_server_setting_is_a_message_not_a_traceback():
    result = _rag("serve", "--port", "70000")
    assert result.returncode == 2 and "port must be at most 65535" in result.stderr
    assert "Traceback" not in result.stderr
