"""BM25 over analysed tokens, with weighted query terms.

The scoring matrix (one BM25 weight per document x term, "eager" scoring) is built by bm25s; a query is a weighted
sum of a few sparse columns, computed with one `np.bincount`, so no Python loop ever runs over documents.

The index knows no language: an analyzer (see nlp/swedish.py) is injected to turn texts into tokens and queries into
weighted terms, and its persisted state travels with the index so queries are analysed as the documents were.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

import numpy as np

from errors import IndexCorrupt
from index.checksum import file_sha1

FORMAT_VERSION = 1


class WeightedTerm(Protocol):
    term: str

    @property
    def weight(self) -> float: ...


class TextAnalyzer(Protocol):
    def tokens(self, text: str) -> list[str]: ...

    def query_terms(self, text: str) -> Sequence[WeightedTerm]: ...


@dataclass
class Bm25Params:
    """Lucene's BM25: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), never negative, so every match scores > 0."""

    k1: float = 1.2
    b: float = 0.75
    method: str = "lucene"


@dataclass
class LexicalIndex:
    pids: np.ndarray  # row -> passage integer id
    vocab: dict[str, int]
    data: np.ndarray  # CSC by term: BM25 weight of term t in document indices[indptr[t]:indptr[t+1]]
    indices: np.ndarray
    indptr: np.ndarray
    params: Bm25Params = field(default_factory=Bm25Params)
    analyzer: TextAnalyzer | None = None
    analyzer_state: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(len(self.pids))

    # -- build ------------------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, pids: Sequence[int], tokens: Sequence[list[str]], params: Bm25Params | None = None,
              analyzer: TextAnalyzer | None = None, analyzer_state: dict[str, Any] | None = None) -> "LexicalIndex":
        """Index pre-analysed documents (`tokens[i]` belongs to `pids[i]`)."""
        import bm25s

        params = params or Bm25Params()
        pid_arr = np.asarray(list(pids), dtype=np.int64)
        if len(pid_arr) != len(tokens):
            raise ValueError("pids and tokens differ in length")
        if len(pid_arr) == 0 or not any(tokens):
            empty = np.zeros(0, dtype=np.float32)
            return cls(pid_arr, {}, empty, np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64), params,
                       analyzer, analyzer_state or {})
        model = bm25s.BM25(k1=params.k1, b=params.b, method=params.method)
        model.index([list(t) for t in tokens], show_progress=False, create_empty_token=False)
        s = model.scores
        return cls(pid_arr, dict(model.vocab_dict), np.asarray(s["data"], dtype=np.float32),
                   np.asarray(s["indices"], dtype=np.int32), np.asarray(s["indptr"], dtype=np.int64), params,
                   analyzer, analyzer_state or {})

    @classmethod
    def from_texts(cls, pids: Sequence[int], texts: Iterable[str], analyzer: TextAnalyzer,
                   analyzer_state: dict[str, Any] | None = None, params: Bm25Params | None = None) -> "LexicalIndex":
        return cls.build(pids, [analyzer.tokens(t) for t in texts], params, analyzer, analyzer_state)

    # -- query ------------------------------------------------------------------------------------------------------
    def scores(self, terms: Iterable[tuple[str, float]]) -> np.ndarray:
        """BM25 score of every document for weighted terms: sum over terms of weight x BM25(term, doc)."""
        cols, weights = [], []
        for term, weight in terms:
            col = self.vocab.get(term)
            if col is not None and weight > 0:
                cols.append(col), weights.append(weight)
        if not cols or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        starts, ends = self.indptr[cols], self.indptr[np.asarray(cols) + 1]
        rows = np.concatenate([self.indices[s:e] for s, e in zip(starts, ends)])
        vals = np.concatenate([self.data[s:e] * w for s, e, w in zip(starts, ends, weights)])
        return np.bincount(rows, weights=vals, minlength=self.size).astype(np.float32)

    def top(self, terms: Iterable[tuple[str, float]], k: int,
            allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """[(pid, score)] best first, only documents matching at least one term (score > 0); `allowed` is a
        boolean mask over rows (filters)."""
        scores = self.scores(terms)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        matched = np.flatnonzero(scores > 0)
        if len(matched) > k:
            matched = matched[np.argpartition(-scores[matched], k - 1)[:k]]
        # Ties broken by pid so the order is stable across runs and rebuilds.
        order = sorted(matched.tolist(), key=lambda r: (-float(scores[r]), int(self.pids[r])))
        return [(int(self.pids[r]), float(scores[r])) for r in order]

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        if self.analyzer is None:
            raise RuntimeError("no analyzer attached to the lexical index")
        return self.top(((t.term, t.weight) for t in self.analyzer.query_terms(query)), k, allowed)

    def rows_for(self, pids: np.ndarray) -> np.ndarray:
        """Boolean mask over rows: which rows hold one of `pids`."""
        return np.isin(self.pids, pids)

    # -- persistence ------------------------------------------------------------------------------------------------
    def save(self, npz_path: Path, json_path: Path) -> None:
        """Arrays in .npz, vocabulary and parameters in JSON; each written to a temp file then os.replace'd."""
        tmp_npz = npz_path.with_name(npz_path.name + ".tmp.npz")
        np.savez(tmp_npz, pids=self.pids, data=self.data, indices=self.indices, indptr=self.indptr)
        # The checksum ties the two files together: a crash between the two renames below, or a file copied in
        # from another build with the same shapes, is caught at load instead of silently mis-scoring.
        meta = {"format": FORMAT_VERSION, "size": self.size, "params": self.params.__dict__,
                "vocab": sorted(self.vocab, key=self.vocab.__getitem__), "analyzer": self.analyzer_state,
                "sha1": file_sha1(tmp_npz)}
        tmp_json = json_path.with_name(json_path.name + ".tmp")
        tmp_json.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp_npz, npz_path)
        os.replace(tmp_json, json_path)

    @classmethod
    def load(cls, npz_path: Path, json_path: Path,
             analyzer_factory: Callable[[dict[str, Any]], TextAnalyzer] | None = None) -> "LexicalIndex":
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
            with np.load(npz_path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("pids", "data", "indices", "indptr")}
        except FileNotFoundError as e:
            raise IndexCorrupt(f"sökindexfil saknas: {Path(e.filename).name if e.filename else npz_path.name}") from e
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise IndexCorrupt(f"sökindexet ({npz_path.name}) går inte att läsa") from e
        if "sha1" in meta and meta["sha1"] != file_sha1(npz_path):
            raise IndexCorrupt(f"sökindexet ({npz_path.name}) hör inte ihop med sin beskrivning ({json_path.name})")
        vocab_list = meta.get("vocab", [])
        if (meta.get("format") != FORMAT_VERSION or meta.get("size") != len(arrays["pids"])
                or len(arrays["indptr"]) != len(vocab_list) + 1 or len(arrays["data"]) != len(arrays["indices"])):
            raise IndexCorrupt(f"sökindexet ({npz_path.name}) är inkonsekvent")
        state = meta.get("analyzer", {})
        index = cls(arrays["pids"].astype(np.int64), {t: i for i, t in enumerate(vocab_list)},
                    arrays["data"], arrays["indices"], arrays["indptr"], Bm25Params(**meta.get("params", {})),
                    None, state)
        if analyzer_factory is not None:
            index.analyzer = analyzer_factory(state)
        return index

