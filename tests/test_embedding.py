"""The embedder's two onnxruntime sessions (rag/embed/embedding.py): questions on one thread, builds on every core."""

from __future__ import annotations

import numpy as np

from rag.embed.embedding import ONE_THREAD_TOKENS, Embedder, _onnx_session


def test_a_question_is_embedded_on_one_thread_and_a_large_batch_on_every_core(embedder: Embedder):
    """A question runs on the one-thread session and gets the very vector the all-core session gives it (the
    session changes the speed under load, not the answer); a batch of more than ONE_THREAD_TOKENS tokens runs on
    the all-core session, made when first needed, and its vectors are the texts' own (int8 batches agree to 0.98
    cosine)."""
    import onnxruntime as ort

    question = "Who was killed at Camp Taji?"
    alone = embedder.embed_query(question)
    assert embedder._session.get_session_options().intra_op_num_threads == 1
    every_core = _onnx_session(ort, embedder._model_file, 0)
    assert every_core.get_session_options().intra_op_num_threads == 0
    vector = embedder._encode_ids([embedder._truncating.encode(question).ids], every_core)[0]
    assert np.array_equal(alone, vector.astype(np.float32))

    texts = [f"Rocket attack number {i} hit Camp Taji, north of Baghdad, on a Wednesday." for i in range(20)]
    assert sum(embedder.count_tokens(texts)) > ONE_THREAD_TOKENS
    batch = embedder.embed(texts)
    assert embedder._batch_session is not None
    assert embedder._batch_session.get_session_options().intra_op_num_threads == embedder.threads
    singles = np.stack([embedder.embed_query(text) for text in texts])
    assert batch.shape == singles.shape == (len(texts), embedder.dimension)
    assert float((batch * singles).sum(axis=1).min()) > 0.98
