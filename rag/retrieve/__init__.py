"""Retrieve: a question (made self-contained in a chat) to ranked passages, dense and BM25 fused."""
