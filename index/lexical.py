"""BM25 over analysed tokens, with weighted query terms, that grows and shrinks one report at a time.

The index keeps raw term frequencies (a term-major sparse matrix built by scikit-learn's CountVectorizer) and
document lengths; BM25 weights are computed at query time for the query's few terms only, so idf and the average
document length are always those of the whole current index, and adding or removing a report never recomputes
anything for the other documents. A query is a weighted sum of a few sparse columns, computed with one
`np.bincount`: no Python loop ever runs over documents.

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

FORMAT_VERSION = 2  # 2: term frequencies and document lengths (1 held precomputed BM25 weights)


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
    data: np.ndarray  # CSC by term: frequency of term t in document indices[indptr[t]:indptr[t+1]]
    indices: np.ndarray
    indptr: np.ndarray
    doclen: np.ndarray  # row -> number of tokens
    params: Bm25Params = field(default_factory=Bm25Params)
    analyzer: TextAnalyzer | None = None
    analyzer_state: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(len(self.pids))

    # -- build and change -------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, pids: Sequence[int], tokens: Sequence[list[str]], params: Bm25Params | None = None,
              analyzer: TextAnalyzer | None = None, analyzer_state: dict[str, Any] | None = None) -> "LexicalIndex":
        """Index pre-analysed documents (`tokens[i]` belongs to `pids[i]`)."""
        empty = cls(np.zeros(0, dtype=np.int64), {}, np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int32),
                    np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.float32), params or Bm25Params(), analyzer,
                    analyzer_state or {})
        empty.add(pids, tokens)
        return empty

    def add(self, pids: Sequence[int], tokens: Sequence[list[str]]) -> None:
        """Append documents; new terms extend the vocabulary. Nothing is recomputed for the documents held."""
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import CountVectorizer

        pid_arr = np.asarray(list(pids), dtype=np.int64)
        if len(pid_arr) != len(tokens):
            raise ValueError("pids and tokens differ in length")
        if len(pid_arr) == 0:
            return
        new = None
        if any(tokens):
            counter = CountVectorizer(analyzer=list, lowercase=False, dtype=np.float32)
            new = counter.fit_transform(tokens)  # (documents x their own terms), CSR
            cols = np.asarray([self.vocab.setdefault(t, len(self.vocab)) for t in counter.get_feature_names_out()],
                              dtype=np.int64)
            new = sp.csr_matrix((new.data, cols[new.indices], new.indptr), shape=(len(pid_arr), len(self.vocab)))
        held = sp.csc_matrix((self.data, self.indices, self.indptr), shape=(self.size, len(self.indptr) - 1))
        held.resize((self.size, len(self.vocab)))
        both = sp.vstack([held, new if new is not None else sp.csr_matrix((len(pid_arr), len(self.vocab)))],
                         format="csc")
        self._set(both, np.concatenate([self.pids, pid_arr]),
                  np.concatenate([self.doclen, np.asarray([len(t) for t in tokens], dtype=np.float32)]))

    def remove(self, pids: Iterable[int]) -> int:
        """Drop the rows of these passages; returns how many were held."""
        import scipy.sparse as sp

        drop = np.isin(self.pids, np.asarray(list(pids), dtype=np.int64))
        if not drop.any():
            return 0
        held = sp.csc_matrix((self.data, self.indices, self.indptr), shape=(self.size, len(self.indptr) - 1))
        keep = ~drop
        self._set(held.tocsr()[keep].tocsc(), self.pids[keep], self.doclen[keep])
        return int(drop.sum())

    def _set(self, matrix, pids: np.ndarray, doclen: np.ndarray) -> None:
        matrix.sort_indices()
        self.data = matrix.data.astype(np.float32)
        self.indices = matrix.indices.astype(np.int32)
        self.indptr = matrix.indptr.astype(np.int64)
        self.pids, self.doclen = pids, doclen

    @classmethod
    def from_texts(cls, pids: Sequence[int], texts: Iterable[str], analyzer: TextAnalyzer,
                   analyzer_state: dict[str, Any] | None = None, params: Bm25Params | None = None) -> "LexicalIndex":
        return cls.build(pids, [analyzer.tokens(t) for t in texts], params, analyzer, analyzer_state)

    # -- query ------------------------------------------------------------------------------------------------------
    def _idf(self, df: np.ndarray) -> np.ndarray:
        n = self.size
        if self.params.method == "robertson":
            return np.log((n - df + 0.5) / (df + 0.5))
        return np.log(1 + (n - df + 0.5) / (df + 0.5))

    def scores(self, terms: Iterable[tuple[str, float]]) -> np.ndarray:
        """BM25 score of every document for weighted terms: sum over terms of weight x BM25(term, doc), with
        tf / (tf + k1 (1 - b + b dl / avgdl)) as bm25s and Lucene compute it (no k1 + 1 factor)."""
        cols, weights = [], []
        for term, weight in terms:
            col = self.vocab.get(term)
            if col is not None and weight > 0 and self.indptr[col + 1] > self.indptr[col]:
                cols.append(col), weights.append(weight)
        if not cols or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        k1, b = self.params.k1, self.params.b
        starts, ends = self.indptr[cols], self.indptr[np.asarray(cols) + 1]
        idf = self._idf((ends - starts).astype(np.float64)) * np.asarray(weights)
        rows = np.concatenate([self.indices[s:e] for s, e in zip(starts, ends)])
        tf = np.concatenate([self.data[s:e] for s, e in zip(starts, ends)]).astype(np.float64)
        norm = k1 * (1 - b + b * self.doclen[rows] / max(float(self.doclen.mean()), 1e-9))
        vals = np.repeat(idf, ends - starts) * tf / (tf + norm)
        return np.bincount(rows, weights=vals, minlength=self.size).astype(np.float32)

    def top(self, terms: Iterable[tuple[str, float]], k: int,
            allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """[(pid, score)] best first, only documents matching at least one term (score > 0); `allowed` is a
        boolean mask over rows (filters)."""
        return self.top_and_matches(terms, k, allowed)[0]

    def top_and_matches(self, terms: Iterable[tuple[str, float]], k: int, allowed: np.ndarray | None = None
                        ) -> tuple[list[tuple[int, float]], np.ndarray]:
        """`top`, and the pids of every document matching a term (what a search counts as word matches)."""
        scores = self.scores(terms)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        matched = np.flatnonzero(scores > 0)
        every = self.pids[matched]
        if len(matched) > k:
            matched = matched[np.argpartition(-scores[matched], k - 1)[:k]]
        # Ties broken by pid so the order is stable across runs and rebuilds.
        order = sorted(matched.tolist(), key=lambda r: (-float(scores[r]), int(self.pids[r])))
        return [(int(self.pids[r]), float(scores[r])) for r in order], every

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
        np.savez(tmp_npz, pids=self.pids, data=self.data, indices=self.indices, indptr=self.indptr,
                 doclen=self.doclen)
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
                arrays = {k: z[k] for k in ("pids", "data", "indices", "indptr", "doclen")}
        except FileNotFoundError as e:
            raise IndexCorrupt(f"sökindexfil saknas: {Path(e.filename).name if e.filename else npz_path.name}") from e
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise IndexCorrupt(f"sökindexet ({npz_path.name}) går inte att läsa") from e
        if "sha1" in meta and meta["sha1"] != file_sha1(npz_path):
            raise IndexCorrupt(f"sökindexet ({npz_path.name}) hör inte ihop med sin beskrivning ({json_path.name})")
        vocab_list = meta.get("vocab", [])
        if (meta.get("format") != FORMAT_VERSION or meta.get("size") != len(arrays["pids"])
                or len(arrays["indptr"]) != len(vocab_list) + 1 or len(arrays["data"]) != len(arrays["indices"])
                or len(arrays["doclen"]) != len(arrays["pids"])):
            raise IndexCorrupt(f"sökindexet ({npz_path.name}) är inkonsekvent")
        state = meta.get("analyzer", {})
        index = cls(arrays["pids"].astype(np.int64), {t: i for i, t in enumerate(vocab_list)},
                    arrays["data"], arrays["indices"], arrays["indptr"], arrays["doclen"],
                    Bm25Params(**meta.get("params", {})),
                    None, state)
        if analyzer_factory is not None:
            index.analyzer = analyzer_factory(state)
        return index

