"""The local embedding model, made to compute in int8.

The shipped MiniLM ONNX graph stores int8 weights but dequantizes them on load: every
matrix product runs in float32. Here its weights are re-quantized per output channel
with onnxruntime's own dynamic quantization (``quantize_dynamic``: ``MatMulInteger``
with activations quantized on the fly), which runs about 1.5x faster on two cores
(batches of 8 add the rest; see docs/benchmarks.md). The float graph the shipped
model computes today is the reference: before a built model is used, its vectors for
a fixed set of sentences must agree with the reference's (mean cosine >= 0.99),
or building stops with an error naming the way back (RAG_EMBED_COMPUTE=fp32).

The built model goes to the shared model cache, named by everything it depends on
(the source model's SHA-256, the onnxruntime and onnx versions, this recipe), written
under a temp name and renamed when complete, with a stamp that lets later runs trust
it after a ``stat``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .integrity import read_stamp, sha256_file, stamp_matches, write_stamp

log = logging.getLogger(__name__)

RECIPE = "dynamic-int8-per-channel-v1"
#: Mean cosine to the float reference a built model must reach on CHECK_TEXTS.
MIN_COSINE = 0.99
CHECK_TEXTS = (
    "We propose a method for compressing transformer language models by knowledge distillation.",
    "Graph neural networks fail on heterophilous graphs, where linked nodes have different labels.",
    "Speculative decoding speeds up inference by drafting tokens with a small model and verifying them.",
    "The soil microbiome shifted under drought: bacterial diversity fell by 18% across all plots.",
    "Protein language models predict melting temperature with a Spearman correlation of 0.71.",
    "Nous présentons un corpus annoté pour l'extraction d'information en science des matériaux.",
    "short",
    "A long sentence " + "with many repeated words about retrieval augmented generation and citations " * 12,
)

#: ``embed(texts, model_path) -> unit vectors``: runs a model file as the embedder does.
Runner = Callable[[Sequence[str], Path], np.ndarray]


def int8_model(source: Path, source_sha256: str, cache_dir: Path, run: Runner) -> Path:
    """The int8 model for ``source``, built once into ``cache_dir`` and checked with ``run``."""
    import onnxruntime

    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - install problem
        raise ConfigError("RAG_EMBED_COMPUTE=int8 needs the 'onnx' package; run `make install` (or set RAG_EMBED_COMPUTE=fp32)") from exc
    key = hashlib.sha256(f"{source_sha256} {onnxruntime.__version__} {onnx.__version__} {RECIPE}".encode()).hexdigest()[:16]
    target = cache_dir / f"minilm-{key}.int8.onnx"
    stamp = cache_dir / f"minilm-{key}.verified.json"
    seen = _stamped_digest(stamp)
    if seen and stamp_matches(target, stamp, seen):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("building the int8 embedding model into %s (once)", target)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".int8-") as work:
        built = _build(source, Path(work))
        cosine = _agreement(run, source, built)
        if cosine < MIN_COSINE:
            raise ConfigError(
                f"the int8 embedding model agrees with the float model at mean cosine {cosine:.4f} "
                f"(< {MIN_COSINE}); set RAG_EMBED_COMPUTE=fp32"
            )
        os.replace(built, target)  # complete and checked: only now under its final name
    write_stamp(target, stamp, sha256_file(target))
    log.info("int8 embedding model ready (mean cosine to float %.4f)", cosine)
    return target


def _build(source: Path, work: Path) -> Path:
    """Fold the shipped graph's dequantization into float weights, then quantize them per
    channel (onnxruntime's tools do both; nothing here edits the graph by hand)."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folded = work / "float.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # constant folding, standard ops only
    options.optimized_model_filepath = str(folded)
    options.log_severity_level = 3
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    quantized = work / "int8.onnx"
    root = logging.getLogger()
    root.addFilter(_no_preprocessing_advice)
    try:
        quantize_dynamic(str(folded), str(quantized), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.removeFilter(_no_preprocessing_advice)
    return quantized


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    """quantize_dynamic logs a warning on the root logger advising shape pre-processing,
    which matters for static quantization of CNNs, not here."""
    return not record.getMessage().startswith("Please consider to run pre-processing")


def _agreement(run: Runner, reference: Path, candidate: Path) -> float:
    ref, got = run(CHECK_TEXTS, reference), run(CHECK_TEXTS, candidate)
    return float((ref * got).sum(axis=1).mean())


def _stamped_digest(stamp: Path) -> str | None:
    digest = read_stamp(stamp).get("sha256")
    return digest if isinstance(digest, str) else None
