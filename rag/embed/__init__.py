"""Embed: the sentence-transformers model (ONNX by default), loaded once, for chunks and questions."""
