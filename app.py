"""The Citeline web app: `python app.py [--host 127.0.0.1] [--port 7860] [--index-dir index]`.

The same as `rag serve`: a chat over the indexed articles (built from seeds/ first when there is no index).
"""

from __future__ import annotations

import sys

from rag.apps.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", *sys.argv[1:]]))
