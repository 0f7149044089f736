"""Build, update, load, check and repair the search indexes derived from the store.

Files live in generations, <data dir>/index/gen-NNNNNNNN/: lexical.npz + lexical.json (BM25) and dense.faiss +
dense.json (FAISS), never pickled. A writer builds the next generation in a temporary folder, renames it into
place and only then records its number in SQLite (meta `index_generation`); readers load the generation SQLite
names, so a search sees both indexes of one complete generation, never a half-written file, and at worst a
generation slightly older than the store (hits whose passage has left SQLite are dropped). Writers take a
cross-process file lock (index/.lock), so a CLI ingest and an app upload never overwrite each other. SQLite stays
the source of truth: everything here can be rebuilt from it (`repair_indexes`).

Updates are per report for both indexes: that report's passages are removed and re-added, nothing else is touched.
FAISS vectors come from the embedding cache when the text is unchanged; BM25 keeps term frequencies, so its idf is
always the current store's. What an update does not refresh is the corpus vocabulary used to split compounds (words
seen in the indexed reports): it is rebuilt with the whole lexical index once the store has grown by a quarter
since the last full build, or by `python cli.py reindex` (about a second per 8,000 passages, docs/benchmarks.md).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from errors import IndexCorrupt, ModelMismatch, ToolError
from index.dense import DenseIndex
from index.lexical import LexicalIndex
from index.store import Store
from records import Passage

INDEX_DIR = "index"
GENERATION_KEY = "index_generation"  # meta key: the last complete generation
GENERATION_PREFIX = "gen-"
KEEP_GENERATIONS = 2  # the published one and the one before it (a reader may still be loading it)
LOCK_FILE = ".lock"
LOCK_TIMEOUT_S = 600.0  # a writer waits this long for another one (a full rebuild of a large store) before giving up
LEX_FILES = ("lexical.npz", "lexical.json")
FULL_BUILD_SIZE = "passages_at_full_build"
REBUILD_GROWTH = 1.25  # rebuild BM25 whole (fresh compound vocabulary) once the store outgrows its last build by this
DENSE_FILES = ("dense.faiss", "dense.json")
META_MODEL = "embedding_model"
META_DENSE_KIND = "dense_index_kind"

_TAG = re.compile(r"<[^<>]*>")
_SPACE = re.compile(r"\s+")


@dataclass
class Indexes:
    lexical: LexicalIndex
    dense: DenseIndex | None
    files: tuple = field(default_factory=tuple)  # (path, mtime_ns, size) of the files loaded, for the cache


@dataclass
class IndexUpdate:
    lexical_passages: int = 0
    lexical_rebuilt: bool = False  # whole BM25 index built (first build, re-index, or the store outgrew it)
    lexical_removed: int = 0
    lexical_added: int = 0
    dense_added: int = 0
    dense_removed: int = 0
    embedded: int = 0  # vectors computed (not found in the cache)
    model_id: str | None = None


def index_dir(store: Store) -> Path:
    return Path(store.dir) / INDEX_DIR


def files_in(folder: Path) -> dict[str, Path]:
    return {"lex_npz": folder / LEX_FILES[0], "lex_json": folder / LEX_FILES[1], "dense": folder / DENSE_FILES[0],
            "dense_json": folder / DENSE_FILES[1]}


def generation_dir(store: Store, generation: int) -> Path:
    return index_dir(store) / f"{GENERATION_PREFIX}{generation:08d}"


def published_generation(store: Store) -> int | None:
    value = store.get_meta(GENERATION_KEY)
    return int(value) if value else None


def current_files(store: Store) -> dict[str, Path]:
    """The files of the published generation; IndexCorrupt when none has been published."""
    generation = published_generation(store)
    if generation is None:
        raise IndexCorrupt("inget sökindex är byggt för databasen")
    return files_in(generation_dir(store, generation))


@contextmanager
def writer_lock(store: Store):
    """Serialises every process and thread that writes index generations for this data directory."""
    from filelock import FileLock, Timeout

    if store.read_only and not os.access(index_dir(store), os.W_OK):
        # Only a reader (backup) gets here: this process cannot write the folder, so it cannot take the lock
        # either; whoever can write it publishes whole generations, and backup copies the one SQLite names.
        yield
        return
    index_dir(store).mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir(store) / LOCK_FILE), timeout=LOCK_TIMEOUT_S)
    try:
        with lock:
            yield
    except Timeout:
        raise ToolError(f"sökindexet i {store.dir} byggs av en annan process sedan mer än {LOCK_TIMEOUT_S:.0f} s; "
                        "försök igen när den är klar") from None


def publish(store: Store, lexical: LexicalIndex, dense: DenseIndex | None, meta: dict[str, str] | None = None) -> int:
    """Write both indexes as the next generation and record it in SQLite, with `meta` in the same transaction;
    call under `writer_lock`."""
    on_disk = [int(p.name[len(GENERATION_PREFIX):]) for p in index_dir(store).glob(f"{GENERATION_PREFIX}*")
               if p.name[len(GENERATION_PREFIX):].isdigit()]
    generation = max([published_generation(store) or 0, *on_disk]) + 1
    final = generation_dir(store, generation)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files = files_in(tmp)
    try:
        lexical.save(files["lex_npz"], files["lex_json"])
        if dense is not None:
            dense.save(files["dense"], files["dense_json"])
        _fsync_folder(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk must not stay full of a half-written generation
        raise
    _fsync_folder(final.parent)
    stamp = json.dumps({"passages": [int(lexical.size), _pid_checksum(lexical.pids)],
                        "files": _file_stamps(final)})
    with store.transaction():
        for key, value in (meta or {}).items():
            store.set_meta(key, value)
        store.set_meta(GENERATION_KEY, str(generation))
        store.set_meta(STAMP_KEY, stamp)
    _drop_old_generations(store, generation)
    return generation


def _fsync_folder(folder: Path) -> None:
    """Files and folder entry on disk before the generation is named in SQLite (a power cut cannot publish a
    generation whose files were still in the page cache)."""
    for path in [*folder.iterdir(), folder] if folder.is_dir() else []:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _drop_old_generations(store: Store, current: int) -> None:
    """Generations older than the last KEEP_GENERATIONS, the files of the layout before generations, and
    temporary folders a killed writer left (only writers create them, and the caller holds the writer lock)."""
    for path in index_dir(store).iterdir():
        name = path.name
        if name.startswith(GENERATION_PREFIX) and name[len(GENERATION_PREFIX):].isdigit():
            if int(name[len(GENERATION_PREFIX):]) <= current - KEEP_GENERATIONS:
                shutil.rmtree(path, ignore_errors=True)
        elif name.endswith(".tmp") and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif name in (*LEX_FILES, *DENSE_FILES):
            path.unlink(missing_ok=True)


def clean_text(text: str) -> str:
    """Passage text as embedded and shown: no markup, single spaces."""
    return _SPACE.sub(" ", _TAG.sub(" ", text or "")).strip()


def embedding_text(p: Passage) -> str:
    """What a passage's vector encodes: its heading (context a short table row or bullet lacks) and its text."""
    text = clean_text(p.text)
    heading = clean_text(p.heading or "")
    return f"{heading}: {text}" if heading and heading.lower() not in text.lower() else text


def lexical_text(p: Passage) -> str:
    return p.text or ""


# -- embedder -----------------------------------------------------------------------------------------------------
MODEL_ENV = "RAPPORT_EMBEDDING_MODEL"  # a sentence-transformers model id or folder; unset: multilingual-e5-small
_EMBEDDERS: dict[Any, Any] = {}  # model name -> Embedder; ("query", name) -> its query-only twin or None
_LOCK = threading.RLock()


def configured_model() -> str | None:
    """The model the user chose (environment), or None for the default."""
    return os.environ.get(MODEL_ENV, "").strip() or None


def default_model_id() -> str | None:
    """The id the default model records in the store, read from its folder without loading it."""
    from index.embeddings import _model_id
    from index.model_prep import DEFAULT_DEST, MARKER_FILE

    return _model_id(str(DEFAULT_DEST), DEFAULT_DEST) if (DEFAULT_DEST / MARKER_FILE).is_file() else None


def get_embedder(model: str | None = None):
    """An embedding model, loaded once per process. `model` is a model id or folder, or a model id recorded in a
    store (the default model's recorded id maps back to its folder); None: the configured model."""
    from index.embeddings import Embedder
    from index.onnx_embedder import is_int8_name

    name = model or configured_model()
    with _LOCK:
        if name in _EMBEDDERS:
            return _EMBEDDERS[name]
        if name is not None and name == default_model_id():
            name = None
        if name not in _EMBEDDERS:
            _EMBEDDERS[name] = _load_int8() if is_int8_name(name) else Embedder.load(name)
        return _EMBEDDERS[name]


class LazyEmbedder:
    """Stands in for the store's embedding model until a text the store's vector cache lacks must be embedded, so
    a correction that only regroups existing text loads no model (about 7 s in a fresh process)."""

    def __init__(self, model: str, dim: int):
        self.model_id, self.dim, self._model = model, dim, None

    def __getattr__(self, attr: str):
        if attr.startswith("_"):
            raise AttributeError(attr)
        if self._model is None:
            self._model = get_embedder(self.model_id)
        return getattr(self._model, attr)


def lazy_embedder(store: Store):
    """The store's model, loaded on first use; the loaded one when the store has no cached vectors to go by."""
    model = store.get_meta(META_MODEL)
    row = store.conn.execute("SELECT length(vector) FROM embeddings WHERE model=? LIMIT 1", (model,)).fetchone()
    if model is None or row is None or _EMBEDDERS.get(model) is not None:
        return get_embedder(model)
    return LazyEmbedder(model, int(row[0]) // 4)


def _load_int8():
    from index.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder.load()


def get_query_embedder(model: str | None = None):
    """What embeds a query for vectors made by `model` (a recorded model id): the default model's C-engine twin
    when it is the one (no torch import, ~0.15 s to load), otherwise `get_embedder(model)`."""
    from index.embeddings import nano_query_embedder

    name = model or configured_model()
    if configured_model() is None and name in (None, default_model_id()):
        with _LOCK:
            key = ("query", name)
            if key not in _EMBEDDERS:
                _EMBEDDERS[key] = nano_query_embedder()
            if _EMBEDDERS[key] is not None:
                return _EMBEDDERS[key]
    return get_embedder(model)


def check_model(store: Store, model_id: str) -> None:
    """Refuse to mix vectors of two models in one store."""
    recorded = store.get_meta(META_MODEL)
    if recorded and recorded != model_id:
        raise ModelMismatch(f"databasens vektorer är byggda med {recorded}, men modellen {model_id} är vald")


def embed_passages(store: Store, embedder, passages: list[Passage], progress: bool = False) -> tuple[np.ndarray, int]:
    """Vectors for passages, from the store's cache where the (model, text) pair was embedded before."""
    from index.embeddings import embed_with_cache

    texts = [embedding_text(p) for p in passages]
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32), 0
    computed = [0]

    def get_cached(hashes: list[str]) -> dict[str, np.ndarray]:
        return store.cached_vectors(embedder.model_id, hashes)

    def put_cached(vectors: dict[str, np.ndarray]) -> None:
        computed[0] += len(vectors)
        store.put_vectors(embedder.model_id, vectors)

    vectors = embed_with_cache(embedder, texts, get_cached, put_cached)
    return np.asarray(vectors, dtype=np.float32), computed[0]


# -- lexical ------------------------------------------------------------------------------------------------------
LEXICAL_BATCH = 20_000  # passages analysed at once: a million passages' Word objects held together took 8 GB


def build_lexical(passages: Sequence[Passage], pids: list[int] | None = None) -> LexicalIndex:
    """BM25 over the Swedish analyzer; corpus words become compound-splitting vocabulary (persisted with it).

    Two passes in batches of LEXICAL_BATCH: the words are counted for the vocabulary first, then analysed into
    terms and added batch by batch, so memory holds one batch's words, not the corpus's (tokenising twice costs
    time, not memory: bench/bm25_memory.py)."""
    from nlp.swedish import Analyzer, corpus_vocabulary

    base = Analyzer.default()
    batches = [passages[lo:lo + LEXICAL_BATCH] for lo in range(0, len(passages), LEXICAL_BATCH)] or [passages]
    extra = corpus_vocabulary(w.lower for batch in batches for p in batch for w in base.words(lexical_text(p)))
    analyzer = Analyzer.default(extra)
    all_pids = pids if pids is not None else [_pid(p) for p in passages]
    index = None
    for k, batch in enumerate(batches):
        tokens = [_terms(analyzer, base.words(lexical_text(p))) for p in batch]
        batch_pids = all_pids[k * LEXICAL_BATCH:k * LEXICAL_BATCH + len(batch)]
        if index is None:
            index = LexicalIndex.build(batch_pids, tokens, analyzer=analyzer, analyzer_state={
                "language": "sv", "extra_vocabulary": extra, FULL_BUILD_SIZE: len(passages)})
        else:
            index.add(batch_pids, tokens)
    return index


def update_lexical(lexical: LexicalIndex, docs: dict[int, str], changed: set[str],
                   fetch: Callable[[list[int]], dict[int, Passage]]) -> tuple[int, int] | None:
    """Remove the rows of changed or vanished passages and add the passages the index lacks (read with `fetch`),
    with the index's own analyzer; (removed, added). `docs`: every stored passage id and its report. None,
    changing nothing, when the store has outgrown the last full build: the caller rebuilds instead, so the compound
    vocabulary follows the corpus."""
    if len(docs) > REBUILD_GROWTH * max(int(lexical.analyzer_state.get(FULL_BUILD_SIZE, 0)), 1):
        return None
    analyzer = lexical.analyzer or analyzer_from_state(lexical.analyzer_state)
    removed = lexical.remove(_stale(lexical.pids.tolist(), docs, changed))
    held = set(lexical.pids.tolist())
    to_add = fetch([pid for pid in docs if pid not in held])
    lexical.add(list(to_add), [_terms(analyzer, analyzer.words(lexical_text(p))) for p in to_add.values()])
    return removed, len(to_add)


def _terms(analyzer, words) -> list[str]:
    return [t.term for w in words for t in analyzer.expand(w.lower)]


def _stale(held: Iterable[int], docs: dict[int, str], changed: set[str]) -> list[int]:
    """Indexed ids whose passage left the store or belongs to a report that changed."""
    return [i for i in held if i not in docs or docs[i] in changed]


def analyzer_from_state(state: dict[str, Any]):
    from nlp.swedish import Analyzer

    return Analyzer.default(state.get("extra_vocabulary", []))


def _pid(p: Passage) -> int:
    from index.store import passage_int_id

    return passage_int_id(p.id)


# -- update -------------------------------------------------------------------------------------------------------
def update_indexes(store: Store, changed_docs: list[str] | None = None, removed_docs: list[str] | None = None,
                   embedder=None, progress: bool = False) -> IndexUpdate:
    """Bring the indexes in line with the store after reports were added, changed or removed, as a new generation.

    changed_docs=None means every report (re-index): the dense index is rebuilt from scratch and may switch to
    another model. With a list, only those reports' vectors are replaced (and any passage the index lacks is added,
    any it holds that the store lost is removed, so a writer also picks up what another writer committed), and the
    model must be the one that built the existing vectors.
    """
    full = changed_docs is None
    changed = set(changed_docs or []) | set(removed_docs or [])
    embedder = embedder or (get_embedder(configured_model() or (None if full else store.get_meta(META_MODEL)))
                            if store.count("passages") else None)
    embedded = 0
    if embedder is not None and changed:
        # Embed outside the lock (the slow part); inside it the vectors come from the store's cache.
        embedded = embed_passages(store, embedder, [p for d in sorted(changed) for p in store.passages(d)],
                                  progress)[1]
    with writer_lock(store):
        result = _update_locked(store, full, changed, embedder, progress)
    result.embedded += embedded
    return result


def _update_locked(store: Store, full: bool, changed: set[str], embedder, progress: bool) -> IndexUpdate:
    # One consistent snapshot, read under the lock: every passage's id and report, and the text only of those an
    # index lacks, so adding one report does not read the whole store (a full build reads it all).
    with store.snapshot():
        docs = store.passage_docs()
        fetched: dict[int, Passage] = {}

        def fetch(pids: list[int]) -> dict[int, Passage]:
            missing = [p for p in pids if p not in fetched]
            fetched.update(store.passages_for(missing) if missing else {})
            return {p: fetched[p] for p in pids if p in fetched}

        result = IndexUpdate()
        files = None if full else _published_files_or_none(store)
        lexical = None if files is None else _load_lexical_or_none(files)
        if lexical is not None:
            changes = update_lexical(lexical, docs, changed, fetch)
            if changes is None:
                lexical = None
            else:
                result.lexical_removed, result.lexical_added = changes
        if lexical is None:
            every = fetch(list(docs))
            lexical = build_lexical(list(every.values()), list(every))
            result.lexical_rebuilt = True
        result.lexical_passages = lexical.size
        dense = None if files is None else _load_dense_or_none(files)
        if dense is None:
            to_add = fetch(list(docs))
        else:
            held = set(dense.ids().tolist())
            stale = _stale(held, docs, changed)
            result.dense_removed = dense.remove(np.asarray(stale, dtype=np.int64))
            held.difference_update(stale)
            to_add = fetch([pid for pid in docs if pid not in held])
    if dense is None and not docs:
        publish(store, lexical, None)
        _forget(store)
        return result
    if embedder is None:
        embedder = get_embedder(configured_model() or (None if full else store.get_meta(META_MODEL)))
    if not full:
        check_model(store, embedder.model_id)
        if dense is not None and dense.model_id != embedder.model_id:
            raise ModelMismatch(f"vektorindexet är byggt med {dense.model_id}, men modellen {embedder.model_id} "
                                "är vald")
    if dense is None:
        dense = _new_dense(store, embedder, list(to_add.values()))
    vectors, result.embedded = embed_passages(store, embedder, list(to_add.values()), progress)
    dense.add(np.asarray(list(to_add), dtype=np.int64), vectors)
    result.dense_added = len(to_add)
    publish(store, lexical, dense, {META_MODEL: embedder.model_id})
    result.model_id = embedder.model_id
    _forget(store)
    return result


def _published_files_or_none(store: Store) -> dict[str, Path] | None:
    try:
        return current_files(store)
    except IndexCorrupt:
        return None


def _new_dense(store: Store, embedder, passages: list[Passage]) -> DenseIndex:
    kind = store.get_meta(META_DENSE_KIND) or "flat"
    train = None
    if kind != "flat":
        train, _ = embed_passages(store, embedder, passages)
    return DenseIndex.new(embedder.model_id, embedder.dim, kind, train)


def _load_lexical_or_none(paths: dict[str, Path]) -> LexicalIndex | None:
    try:
        return LexicalIndex.load(paths["lex_npz"], paths["lex_json"], analyzer_from_state)
    except IndexCorrupt:
        return None  # rebuilt from the store


def _load_dense_or_none(paths: dict[str, Path]) -> DenseIndex | None:
    if not paths["dense"].exists() and not paths["dense_json"].exists():
        return None
    try:
        return DenseIndex.load(paths["dense"], paths["dense_json"])
    except IndexCorrupt:
        return None  # rebuilt from the store below


def repair_indexes(store: Store, embedder=None, dense_kind: str | None = None) -> IndexUpdate:
    """Rebuild both indexes from SQLite (vectors come from the embedding cache where possible).

    `dense_kind` ("flat" or "ivf") is remembered in the store for later rebuilds."""
    if dense_kind is not None:
        from errors import UnknownChoice
        from index.dense import KINDS

        if dense_kind not in KINDS:
            raise UnknownChoice("indextyp", dense_kind, KINDS)
        store.set_meta(META_DENSE_KIND, dense_kind)
    model = configured_model() or store.get_meta(META_MODEL)
    return update_indexes(store, changed_docs=None, embedder=embedder or get_embedder(model))


# -- load ---------------------------------------------------------------------------------------------------------
_CACHE: dict[str, Indexes] = {}


def _stamp(paths: Iterable[Path]) -> tuple:
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append((str(p), None, None))
    return tuple(out)


def load_indexes(store: Store) -> Indexes:
    """The published generation's indexes, loaded once per process per generation.

    A generation may be older than the store (a writer is still building the next one): callers drop hits whose
    passage SQLite no longer has. When the generation being read vanishes (writers published two newer ones
    meanwhile) the one SQLite names now is read instead. IndexCorrupt only when no generation is published or the
    published one cannot be read."""
    for attempt in range(3):
        files = current_files(store)
        try:
            return _load_files(store, files)
        except IndexCorrupt:
            if attempt == 2 or current_files(store) == files:
                raise
    raise AssertionError("unreachable")


def _load_files(store: Store, files: dict[str, Path]) -> Indexes:
    stamp = _stamp(files.values())
    key = str(Path(store.dir).resolve())
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached.files == stamp:
            return cached
    lexical = LexicalIndex.load(files["lex_npz"], files["lex_json"], analyzer_from_state)
    dense = None
    if files["dense"].exists() or files["dense_json"].exists():
        dense = DenseIndex.load(files["dense"], files["dense_json"])
    indexes = Indexes(lexical, dense, stamp)
    with _LOCK:
        _CACHE[key] = indexes
    return indexes


def _forget(store: Store) -> None:
    with _LOCK:
        _CACHE.pop(str(Path(store.dir).resolve()), None)


# -- check --------------------------------------------------------------------------------------------------------
STAMP_KEY = "index_stamp"  # meta: passages (count, checksum of ids) and files (size, mtime) of the published generation
PID_MODULUS = 1_000_000_007  # ids are 63-bit hashes: their plain sum overflows SQLite's integers


def _pid_checksum(pids: Any) -> int:
    return int((np.abs(np.asarray(pids, dtype=np.int64)) % PID_MODULUS).sum())


def _file_stamps(folder: Path) -> dict[str, list[int]]:
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(folder.iterdir()) if p.is_file()}


def indexes_unchanged(store: Store) -> bool:
    """Cheap start-up test: the published generation's files are the ones written at publish (size and mtime) and
    the store holds the passages it was built from (count and a checksum of ids, one SQL aggregate). False means 'run
    check_indexes', not 'broken'. Loading both indexes at every open made each ingest cost more the larger the
    store; what this cannot see (a bit flipped in place with the mtime kept) surfaces as IndexCorrupt on load."""
    stamp = store.get_meta(STAMP_KEY)
    generation = published_generation(store)
    if not stamp or generation is None:
        return False
    recorded = json.loads(stamp)
    folder = generation_dir(store, generation)
    count, total = store.conn.execute("SELECT count(*), coalesce(sum(abs(pid) % ?), 0) FROM passages",
                                      (PID_MODULUS,)).fetchone()
    return folder.is_dir() and recorded["passages"] == [count, total] and _file_stamps(folder) == recorded["files"]


def check_indexes(store: Store) -> list[str]:
    """Problems found (empty when the published generation covers exactly the store's passages);
    `repair_indexes` fixes them all."""
    store_ids = set(store.passage_ids())
    try:
        files = current_files(store)
    except IndexCorrupt as e:
        return [str(e)] if store_ids or store.count("reports") else []
    problems: list[str] = []
    try:
        lexical = LexicalIndex.load(files["lex_npz"], files["lex_json"])
        if set(lexical.pids.tolist()) != store_ids:
            problems.append(f"sökindexet (BM25) täcker inte databasens passager ({lexical.size} mot {len(store_ids)})")
    except IndexCorrupt as e:
        problems.append(str(e))
    if not store_ids and not files["dense"].exists():
        return problems
    try:
        dense = DenseIndex.load(files["dense"], files["dense_json"])
        if set(dense.ids().tolist()) != store_ids:
            problems.append(f"vektorindexet täcker inte databasens passager ({dense.size} mot {len(store_ids)})")
        recorded = store.get_meta(META_MODEL)
        if recorded and recorded != dense.model_id:
            problems.append(f"vektorindexet är byggt med {dense.model_id}, databasen anger {recorded}")
    except IndexCorrupt as e:
        problems.append(str(e))
    return problems
