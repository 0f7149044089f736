"""FAISS index of passage vectors, keyed by the passages' integer ids (passages.pid).

Default: exact inner product over normalised vectors (IndexIDMap2 + IndexFlatIP), so scores are cosine similarities.
For very large stores, kind "ivf" gives an approximate index (trained on a sample of the store's own vectors) that
still supports adding and removing single reports: an inverted file of sqrt(N) lists with 8-bit scalar-quantised
vectors (IVF-SQ8), a quarter of flat's memory. Product quantisation (IVF-PQ48) was measured at recall@10 0.75 against
exact search on report text, too low; SQ8 keeps recall@10 >= 0.95 at nprobe 64 (docs/benchmarks.md).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from errors import IndexCorrupt, UnknownChoice
from index.checksum import file_sha1

KINDS = ("flat", "ivf")
IVF_MIN_VECTORS = 10_000  # below this an approximate index buys nothing and trains badly
BACKGROUND = 2000  # vectors sampled to describe a query's similarity to passages in general
NPROBE = 64  # lists searched per query, at least; on very large stores an eighth of the lists, rounded up to a power
# of two (1M passages: 1,000 lists, nprobe 128, recall@10 0.96 against exact; bench/run.py)


@dataclass
class DenseIndex:
    index: "object"  # faiss.IndexIDMap2
    model_id: str
    dim: int
    kind: str = "flat"

    @classmethod
    def new(cls, model_id: str, dim: int, kind: str = "flat", train_vectors: np.ndarray | None = None) -> "DenseIndex":
        import faiss

        if kind not in KINDS:
            raise UnknownChoice("indextyp", kind, KINDS)
        if kind == "ivf" and (train_vectors is None or len(train_vectors) < IVF_MIN_VECTORS):
            kind = "flat"
        if kind == "flat":
            inner = faiss.IndexFlatIP(dim)
        else:
            nlist = max(16, int(math.sqrt(len(train_vectors))))
            # Training on a sample: k-means needs some tens of points per list, not the whole store.
            sample = np.random.default_rng(0).permutation(len(train_vectors))[:64 * nlist]
            train_vectors = np.asarray(train_vectors)[np.sort(sample)]
            inner = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
            inner.train(np.ascontiguousarray(train_vectors, dtype=np.float32))
            inner.nprobe = min(nlist, max(NPROBE, 1 << (nlist // 8 - 1).bit_length()))
            # The inverted file keeps the passages' own ids (no IndexIDMap2 around it): IndexIDMap2 compacts its id
            # map on removal as if the inner index renumbered, which an IVF does not, so after a report was
            # replaced its hits came back under other passages' ids. A hash-table direct map finds vectors by id.
            inner.set_direct_map_type(faiss.DirectMap.Hashtable)
            return cls(inner, model_id, dim, kind)
        return cls(faiss.IndexIDMap2(inner), model_id, dim, kind)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @cached_property
    def background(self) -> np.ndarray:
        """A fixed sample (seeded) of the stored vectors: a query's cosines to it say how similar passages are to
        the query *in general*, so a hit can be judged by how far it stands out (index/search.py)."""
        ids = self.ids()
        if len(ids) > BACKGROUND:
            ids = np.sort(np.random.default_rng(0).choice(ids, BACKGROUND, replace=False))
        return self.vectors(ids.tolist())

    def ids(self) -> np.ndarray:
        import faiss

        if isinstance(self.index, faiss.IndexIDMap2):
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = faiss.extract_index_ivf(self.index).invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy() for i in range(lists.nlist)
                 if lists.list_size(i)]
        return np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def add(self, pids: np.ndarray, vectors: np.ndarray) -> None:
        if len(pids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of dimension {self.dim}, got {vectors.shape}")
        self.index.add_with_ids(vectors, np.ascontiguousarray(pids, dtype=np.int64))

    def remove(self, pids: np.ndarray) -> int:
        import faiss

        if len(pids) == 0:
            return 0
        ids = np.ascontiguousarray(pids, dtype=np.int64)
        if isinstance(self.index, faiss.IndexIVF):  # its hash-table direct map removes by an explicit id list only
            return int(self.index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids))))
        return int(self.index.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """[(pid, cosine)] best first; `allowed` restricts the search to those pids (filters)."""
        import faiss

        if self.size == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        k = min(k, self.size)
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            params = faiss.SearchParametersIVF(sel=selector) if self.kind == "ivf" else faiss.SearchParameters(
                sel=selector)
            if self.kind == "ivf":
                params.nprobe = faiss.extract_index_ivf(self.index).nprobe
        scores, ids = self.index.search(query, k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def vectors(self, pids: list[int]) -> np.ndarray:
        """Stored vectors of these pids (approximate for ivf)."""
        if not pids:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._direct_map()
        return np.vstack([self.index.reconstruct(int(p)) for p in pids]).astype(np.float32)

    def _direct_map(self) -> None:
        """An inverted file finds a vector by id only through a direct map, which FAISS does not keep unless asked
        (reconstruct then raises "direct map not initialized"); a hash table, since removals leave gaps in ids."""
        if self.kind != "ivf":
            return
        import faiss

        ivf = faiss.extract_index_ivf(self.index)
        if ivf.direct_map.type != faiss.DirectMap.Hashtable:
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)

    # -- persistence ------------------------------------------------------------------------------------------------
    def save(self, index_path: Path, json_path: Path) -> None:
        """The serialised index to a temp file, then os.replace; the JSON sidecar records model, kind and checksum.
        Written through Python rather than faiss.write_index so a full or read-only disk raises OSError with its
        errno (faiss only says RuntimeError), which cli.py and app.py turn into one clear line."""
        import faiss

        tmp = index_path.with_name(index_path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(faiss.serialize_index(self.index).tobytes())
        meta = {"model_id": self.model_id, "dim": self.dim, "kind": self.kind, "size": self.size,
                "sha1": file_sha1(tmp)}
        tmp_json = json_path.with_name(json_path.name + ".tmp")
        tmp_json.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, index_path)
        os.replace(tmp_json, json_path)

    @classmethod
    def load(cls, index_path: Path, json_path: Path) -> "DenseIndex":
        import faiss

        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
            if meta.get("sha1") != file_sha1(index_path):
                raise IndexCorrupt(f"vektorindexet ({index_path.name}) är skadat eller ofullständigt")
            index = faiss.read_index(str(index_path))
        except FileNotFoundError as e:
            raise IndexCorrupt(f"vektorindexfil saknas: {Path(e.filename).name if e.filename else index_path.name}") from e
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise IndexCorrupt(f"vektorindexet ({index_path.name}) går inte att läsa") from e
        native_ivf = meta.get("kind") == "ivf" and isinstance(index, faiss.IndexIVF)  # an IDMap2-wrapped one is older
        if not (isinstance(index, faiss.IndexIDMap2) or native_ivf) or index.ntotal != meta.get("size") \
                or index.d != meta.get("dim"):
            raise IndexCorrupt(f"vektorindexet ({index_path.name}) stämmer inte med sin beskrivning")
        return cls(index, meta["model_id"], int(meta["dim"]), meta.get("kind", "flat"))

