"""Embed and index: vectors, BM25 postings and annotations, written as segments under a manifest."""
