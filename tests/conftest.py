"""Shared pytest fixtures. Each area keeps its fixtures in its own clearly marked section."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from records import Document, Flag, Passage, ReportMeta, Segmentation, Unit

ROOT = Path(__file__).resolve().parents[1]


# --- app fixtures ---------------------------------------------------------------------------------------------------
# A hand-built review store (no embedding model needed) for pipeline.review / pipeline.export tests, and a real store built
# by the ingest pipeline over tests/fixtures/reports for the AppTest and browser tests (built once per session,
# copied per test so decisions never leak between tests).

HOSTILE_LINE = 'Kommentar: <script>alert(1)</script> och <b>fet</b> text & "citat" $5$ [länk](javascript:x)'


def _lines(n: int, special: dict[int, str]) -> list[str]:
    return [special.get(i + 1, f"Rad {i + 1} i rapporten.") for i in range(n)]


def _review_unit(uid: str, doc: str, seq: int, start: int, end: int, title: str, text: str,
                 status: str | None = None, explicit: str | None = None) -> Unit:
    return Unit(id=uid, doc=doc, seq=seq, level="uppdrag", title=title, text=text, line_start=start, line_end=end,
                explicit_status=explicit, explicit_status_source="column" if explicit else None,
                explicit_status_line=start if explicit else None, status=status, title_line=start)


def build_review_store(db_dir: Path):
    """Two reports, six units (one stated, four suggested, one without suggestion), three flags."""
    from index.store import Store

    store = Store.open(db_dir, create=True)
    a_lines = _lines(20, {3: "1. Minska sjukfrånvaron", 4: "Arbetet är klart.",
                          6: "2. Införa nytt larmsystem", 7: "Upphandlingen är försenad och beräknas klar 2025.",
                          8: HOSTILE_LINE,
                          10: "3. Utveckla hemtjänsten", 11: "Arbetet pågår enligt plan."})
    b_lines = _lines(20, {2: "1. Heltid som norm", 3: "Alla tjänster är nu heltid.",
                          5: "2. Digitala möten", 6: "",
                          8: "3. Ny biståndsprocess", 9: "Gul", 10: "Processen har startat men ligger efter."})
    docs = {
        "a.txt": (ReportMeta("a.txt", "Uppsala", "Omsorgsnämnden", 2024, "augusti"), a_lines, [
            _review_unit("a#u1", "a.txt", 0, 3, 4, "1. Minska sjukfrånvaron", "Arbetet är klart.", "genomförd",
                         "Klar"),
            _review_unit("a#u2", "a.txt", 1, 6, 8, "2. Införa nytt larmsystem",
                         a_lines[6] + "\n" + HOSTILE_LINE),
            _review_unit("a#u3", "a.txt", 2, 10, 11, "3. Utveckla hemtjänsten", "Arbetet pågår enligt plan."),
        ]),
        "b.txt": (ReportMeta("b.txt", "Hudiksvall", "Socialnämnden", 2023, "augusti"), b_lines, [
            _review_unit("b#u1", "b.txt", 0, 2, 3, "1. Heltid som norm", "Alla tjänster är nu heltid."),
            _review_unit("b#u2", "b.txt", 1, 5, 6, "2. Digitala möten", ""),
            _review_unit("b#u3", "b.txt", 2, 8, 10, "3. Ny biståndsprocess",
                         "Processen har startat men ligger efter.", None, "Gul"),
        ]),
    }
    for doc, (meta, lines, units) in docs.items():
        passages = [Passage(f"{u.id}#p", doc, u.seq, u.title, u.text or u.title, u.line_start, u.line_end, u.id)
                    for u in units]
        document = Document(doc, lines, lines, f"sha-{doc}", "txt")
        store.replace_report(meta, document, Segmentation(passages, units), f"/nowhere/{doc}")
    store.set_unit_fields({
        "a#u2": {"suggested_status": "försenad", "status_confidence": 0.81,
                 "status_probs": {"försenad": 0.81, "enligt plan": 0.12, "genomförd": 0.07},
                 "status_evidence": [{"line": 7, "text": "Upphandlingen är försenad och beräknas klar 2025.",
                                      "weight": 0.9}],
                 "themes": [{"id": "trygghet", "label": "Trygghet", "score": 0.7}]},
        "a#u3": {"suggested_status": "enligt plan", "status_confidence": 0.55,
                 "status_probs": {"försenad": 0.2, "enligt plan": 0.55, "genomförd": 0.25},
                 "status_evidence": [{"line": 11, "text": "Arbetet pågår enligt plan.", "weight": 1.0}]},
        "b#u1": {"suggested_status": "genomförd", "status_confidence": 0.42,
                 "status_probs": {"försenad": 0.28, "enligt plan": 0.3, "genomförd": 0.42},
                 "status_evidence": [{"line": 3, "text": "Alla tjänster är nu heltid.", "weight": 1.0}],
                 "themes": [{"id": "kompetensforsorjning", "label": "Kompetensförsörjning", "score": 0.8}]},
        "b#u3": {"suggested_status": "försenad", "status_confidence": 0.6,
                 "status_probs": {"försenad": 0.6, "enligt plan": 0.3, "genomförd": 0.1},
                 "status_evidence": [{"line": 10, "text": "Processen har startat men ligger efter.", "weight": 1.0}]},
        "b#u2": {"status_note": "Ingen kommentar att bedöma – inget förslag."},
    })
    store.replace_flags("a.txt", [
        Flag("fl-a1", "status_text_conflict", "a.txt", ["a#u1"], 4, "hög", 0.9, "Status »Klar« men texten säger "
             "<i>försenad</i>", [{"line": 4, "quote": "Arbetet är klart."}, {"line": 8, "quote": HOSTILE_LINE}]),
    ])
    store.replace_flags("b.txt", [
        Flag("fl-b1", "overdue", "b.txt", ["b#u3"], 9, "medel", 0.6, "Slutdatum passerat",
             [{"line": 10, "quote": "Processen har startat men ligger efter."}]),
        Flag("fl-b2", "duplicate_text", "b.txt", ["b#u1", "b#u3"], 3, "låg", 0.3, "Samma text två gånger", []),
    ])
    return store


@pytest.fixture
def review_store(tmp_path):
    store = build_review_store(tmp_path / "review")
    yield store
    store.close()


@pytest.fixture(scope="session")
def ingested_fixture_dir(tmp_path_factory) -> Path:
    """data dir built by the real ingest pipeline over tests/fixtures/reports (needs the embedding model)."""
    from pipeline.ingest import ingest_paths

    db_dir = tmp_path_factory.mktemp("app-store")
    summary = ingest_paths([ROOT / "tests" / "fixtures" / "reports"], db_dir=db_dir, progress=False)
    assert not summary.errors, summary.errors
    return db_dir


@pytest.fixture
def app_data_dir(ingested_fixture_dir, tmp_path, monkeypatch) -> Path:
    """A private copy of the ingested fixture store, and the app pointed at it."""
    return app_on_copy(ingested_fixture_dir, tmp_path / "data", monkeypatch)


def app_on_copy(source: Path, target: Path, monkeypatch) -> Path:
    """Copy a data directory to `target` and point the app (KOMMUNRAPPORT_DATA) at the copy."""
    shutil.copytree(source, target)
    monkeypatch.setenv("KOMMUNRAPPORT_DATA", str(target))
    return target
# --- end app fixtures -----------------------------------------------------------------------------------------------


# --- search fixtures ------------------------------------------------------------------------------------------------
# A tiny store of three reports (tests/fixtures/search/reports.json, hand-written Swedish excerpts) with BM25 and
# FAISS indexes. Most search tests use HashEmbedder, a deterministic stand-in for the embedding model (character
# 4-grams hashed into 64 dimensions), so dense rankings are exact and no model is loaded; a few tests use the real
# model (`real_search_store`). `python -m tests.conftest DIR` builds the same store, real model, as a demo.
import json as _search_json  # noqa: E402
import re as _search_re  # noqa: E402
import zlib as _search_zlib  # noqa: E402

SEARCH_FIXTURE = ROOT / "tests" / "fixtures" / "search" / "reports.json"


class HashEmbedder:
    """Deterministic embedder: texts sharing character 4-grams get similar vectors. Counts what it embeds."""

    model_id = "test/hash-embedder"
    dim = 64

    def __init__(self, model_id: str | None = None):
        if model_id:
            self.model_id = model_id
        self.embedded: list[str] = []

    def _vector(self, text: str):
        import numpy as np

        v = np.zeros(self.dim, dtype=np.float32)
        for word in _search_re.findall(r"\w+", text.lower()):
            padded = f"#{word}#"
            for i in range(max(1, len(padded) - 3)):
                v[_search_zlib.crc32(padded[i:i + 4].encode()) % self.dim] += 1.0
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def embed_passages(self, texts, batch_size: int = 32, show_progress: bool = False):
        import numpy as np

        self.embedded.extend(texts)
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str):
        return self._vector(text)


def build_search_store(db_dir: Path, embedder) -> "object":
    """The search fixture store, indexes included, built without the segmenter (passages and units as written)."""
    from index.indexes import update_indexes
    from index.store import Store

    data = _search_json.loads(SEARCH_FIXTURE.read_text(encoding="utf-8"))
    store = Store.open(db_dir, create=True)
    classifier_fields = {}
    for r in data["reports"]:
        lines = [p["text"] for p in r["passages"]]
        passages = [Passage(p["id"], r["doc"], i, p["heading"], p["text"], i + 1, i + 1, p["unit"])
                    for i, p in enumerate(r["passages"])]
        units = []
        for seq, u in enumerate(r["units"]):
            own = [p for p in passages if p.unit_id == u["id"]]
            units.append(Unit(id=u["id"], doc=r["doc"], seq=seq, level=u["level"], title=u["title"],
                              text="\n".join(p.text for p in own), line_start=own[0].line_start,
                              line_end=own[-1].line_end, explicit_status=u.get("explicit_status"),
                              explicit_status_source="column" if u.get("explicit_status") else None,
                              status=u.get("status"), title_line=own[0].line_start))
            fields = {k: u[k] for k in ("suggested_status", "themes") if u.get(k)}
            if fields:
                classifier_fields[u["id"]] = fields
        meta = ReportMeta(r["doc"], r["kommun"], r["namnd"], r["year"], "augusti")
        document = Document(r["doc"], lines, lines, f"sha-{r['doc']}", "txt")
        store.replace_report(meta, document, Segmentation(passages, units), f"fixtures/{r['doc']}")
    store.set_unit_fields(classifier_fields)
    update_indexes(store, changed_docs=None, embedder=embedder)
    return store


@pytest.fixture(scope="session")
def search_store_dir(tmp_path_factory) -> Path:
    db_dir = tmp_path_factory.mktemp("search-store")
    build_search_store(db_dir, HashEmbedder()).close()
    return db_dir


@pytest.fixture
def hash_embedder(monkeypatch) -> HashEmbedder:
    """The stand-in model, registered so that get_embedder("test/hash-embedder") (the CLI path) returns it."""
    import index.indexes

    embedder = HashEmbedder()
    monkeypatch.setitem(index.indexes._EMBEDDERS, embedder.model_id, embedder)
    monkeypatch.delenv(index.indexes.MODEL_ENV, raising=False)
    return embedder


@pytest.fixture
def search_store(search_store_dir, tmp_path, hash_embedder):
    """A private copy of the search fixture store (tests may change it)."""
    from index.store import Store

    target = tmp_path / "search-data"
    shutil.copytree(search_store_dir, target)
    store = Store.open(target)
    yield store
    store.close()


@pytest.fixture(scope="session")
def real_search_store(tmp_path_factory):
    """The fixture store embedded with the real default model (prepared by `python -m index.model_prep`)."""
    from index.indexes import get_embedder

    if not (ROOT / "models" / "multilingual-e5-small" / "model.safetensors").is_file():
        pytest.fail("embedding model not prepared: run `make setup` (python -m index.model_prep)")
    store = build_search_store(tmp_path_factory.mktemp("search-real"), get_embedder())
    yield store
    store.close()


if __name__ == "__main__":  # python -m tests.conftest DIR: a demo store for trying search by hand
    import sys

    from index.indexes import get_embedder

    build_search_store(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-data"), get_embedder()).close()
# --- end search fixtures --------------------------------------------------------------------------------------------
