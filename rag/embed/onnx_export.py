"""Export a sentence-transformers folder to ONNX (pooling and normalisation inside the graph), optionally int8.

Runs once per model and variant, from the local weights: nothing is downloaded. The exported file lives in a
cache folder (beside the index by default) under a name that changes when the weights do, and is written to a
temporary name and renamed, so a crash mid-export never leaves a half-written model that later loads.
sentence-transformers' own ONNX backend needs optimum-onnx, which requires transformers 4 (this project runs
sentence-transformers 6 on transformers 5), so the export uses PyTorch's exporter and onnxruntime's quantiser.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from rag.errors import SettingsError

EXPORT_VERSION = 1
VARIANTS = ("onnx", "onnx-int8")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def read_pooling(model_dir: Path) -> tuple[str, bool, int]:
    """Pooling mode ("mean" or "cls"), whether vectors are normalised, and the token window, from the folder."""
    modules_file = model_dir / "modules.json"
    modules = json.loads(modules_file.read_text(encoding="utf-8")) if modules_file.exists() else []
    kinds = [m.get("type", "") for m in modules]
    normalise = any(k.endswith("Normalize") for k in kinds)
    pooling = "mean"
    for module in modules:
        if module.get("type", "").endswith("Pooling"):
            config = json.loads((model_dir / module["path"] / "config.json").read_text(encoding="utf-8"))
            if config.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif not config.get("pooling_mode_mean_tokens", True):
                raise SettingsError(
                    f"the ONNX embedding backend supports mean or CLS pooling; {model_dir} uses another:"
                    " use --embed-backend torch"
                )
    if any(not (k.endswith(("Transformer", "Pooling", "Normalize"))) for k in kinds):
        raise SettingsError(
            f"the ONNX embedding backend supports a transformer, pooling and normalisation; {model_dir} has"
            f" other modules ({', '.join(kinds)}): use --embed-backend torch"
        )
    window = 512
    config_file = model_dir / "sentence_bert_config.json"
    if config_file.exists():
        window = int(json.loads(config_file.read_text(encoding="utf-8")).get("max_seq_length") or window)
    return pooling, normalise, window


def cache_name(model_dir: Path, variant: str) -> str:
    """A file name that changes with the weights (path, size and mtime), the variant and this exporter."""
    weights = next((model_dir / f for f in WEIGHT_FILES if (model_dir / f).exists()), None)
    if weights is None:
        raise SettingsError(f"no model weights ({' or '.join(WEIGHT_FILES)}) in {model_dir}")
    stat = weights.stat()
    key = f"{model_dir.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{variant}|{EXPORT_VERSION}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{model_dir.name}-{digest}-{variant}.onnx"


def exported_model(model_dir: Path, variant: str, cache_dir: Path) -> Path:
    """The ONNX file for this model and variant, exporting it first when the cache does not hold it."""
    if variant not in VARIANTS:
        raise SettingsError(f"ONNX variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    target = Path(cache_dir) / cache_name(model_dir, variant)
    if target.exists():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.exists():  # another process exported it while we waited
            return target
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            _export(model_dir, variant, Path(tmp))
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            from rag.files import current_umask

            os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp's 0600 kept other users from reading the model
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    with contextlib.suppress(OSError):
        os.unlink(str(target) + ".lock")
    return target


def _export(model_dir: Path, variant: str, out: Path) -> None:
    import logging
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    pooling, normalise, _ = read_pooling(model_dir)
    try:
        model = AutoModel.from_pretrained(str(model_dir)).eval()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise SettingsError(
            f"could not load {model_dir} for the ONNX export: {exc}; use --embed-backend torch"
        ) from None

    class SentenceEncoder(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            if pooling == "cls":
                vector = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                vector = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(vector, dim=-1) if normalise else vector

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
    fp32 = out.with_name(out.name + ".fp32") if variant == "onnx-int8" else out
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            SentenceEncoder(model), example, str(fp32), input_names=names, output_names=["embedding"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    if variant == "onnx-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel int8 weights of the matrix products only: the embedding tables stay float, which keeps
        # vectors within ~0.99 cosine of the float model (all-op, per-tensor quantisation drifts to ~0.96).
        logging.getLogger().setLevel(logging.ERROR)
        try:
            quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"])
        finally:
            with contextlib.suppress(OSError):
                fp32.unlink()
