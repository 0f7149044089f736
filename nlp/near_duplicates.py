"""Near-duplicate commentaries across reports, found through an index instead of comparing every pair.

Each unit's text becomes word 4-gram shingles and a MinHash signature (datasketch); the signature is cut into bands
whose hashes are kept in SQLite (`text_bands`). Two units that share one band key are candidates; the flag detector
(nlp/consistency.py) then checks candidates exactly. Finding one report's candidates is an indexed lookup, so the
cost does not grow with the number of reports stored.

Why bands in SQLite rather than datasketch's MinHashLSH: its index lives in memory (or Redis/Cassandra), so every
ingest would rebuild it from all stored signatures; SQLite is the store's source of truth and survives crashes
together with the rows it describes.

What it finds: 16 bands of 4 rows put the Jaccard threshold near 0.5 (a pair at Jaccard 0.5 is a candidate with
probability 0.65, at 0.8 with 0.9999). Bands are made for the whole text and for each paragraph of 15 words or
more, so a commentary copied as one paragraph of a longer text is found too, plus exact keys of every sentence of
ten words or more, so a commentary copied word for word into a much longer text shares at least those.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Iterable

from nlp.status_vocab import norm
from records import Unit

WORD = re.compile(r"[0-9a-zåäöéü]+")
SHINGLE = 4
MIN_SHARED_WORDS = 15  # a commentary shorter than this is too short to call copied
NUM_PERM, BANDS = 64, 16
MIN_SENTENCE_WORDS = 10
# Text held by more reports than this is a template (a county-wide formulation, a standard paragraph), not a
# copy to check: its keys are left out of the candidates, which also keeps one report's candidates bounded.
MAX_SHARING_REPORTS = 10
ROWS = NUM_PERM // BANDS
SEED = 1
# Stored with the bands: a store whose bands were made another way gets new ones (ensure_bands).
VERSION = f"minhash {NUM_PERM}/{BANDS} seed {SEED} shingle {SHINGLE} paragraphs sentences {MIN_SENTENCE_WORDS}"
META_KEY = "text_bands"
SENTENCE_BAND = BANDS  # the band number of exact long-sentence keys, after the MinHash bands
SENTENCE_END = re.compile(r"[.!?…]+\s+|\n")


def words(text: str) -> list[str]:
    return WORD.findall(norm(text))


def shingles(tokens: list[str], n: int = SHINGLE) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(max(0, len(tokens) - n + 1))}


def band_keys(tokens: list[str]) -> list[int]:
    """The MinHash band hashes of a text's shingles (signed 64-bit, as SQLite stores integers)."""
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, seed=SEED)
    m.update_batch([" ".join(g).encode("utf-8") for g in shingles(tokens)])
    values = m.hashvalues
    return [int.from_bytes(hashlib.blake2b(values[b * ROWS:(b + 1) * ROWS].tobytes(), digest_size=8).digest(),
                           "big", signed=True) for b in range(BANDS)]


def unit_bands(units: Iterable[Unit]) -> list[tuple[str, int, int]]:
    """(unit id, band, key) rows for the units with enough text to be called copied: bands of the whole text and
    of each paragraph long enough, so one paragraph copied into a longer commentary is a candidate too."""
    rows: set[tuple[str, int, int]] = set()
    for u in units:
        whole = words(u.text or "")
        if len(whole) < MIN_SHARED_WORDS:
            continue
        paragraphs = [p for p in (words(line) for line in (u.text or "").split("\n"))
                      if len(p) >= MIN_SHARED_WORDS and p != whole]
        for tokens in [whole, *paragraphs]:
            rows |= {(u.id, b, k) for b, k in enumerate(band_keys(tokens))}
        rows |= {(u.id, SENTENCE_BAND, k) for k in sentence_keys(u.text or "")}
    return sorted(rows)


def sentence_keys(text: str) -> set[int]:
    """Exact keys of the long sentences: a commentary copied word for word into a much longer text shares them
    though its Jaccard with that text is low. A plain split at . ! ? is enough: keys need to be the same on both
    sides, not linguistically right."""
    out = set()
    for piece in SENTENCE_END.split(text):
        tokens = words(piece)
        if len(tokens) >= MIN_SENTENCE_WORDS:
            out.add(int.from_bytes(hashlib.blake2b(" ".join(tokens).encode("utf-8"), digest_size=8).digest(), "big",
                                   signed=True))
    return out


def refresh_bands(store: Any, docs: Iterable[str]) -> None:
    """Bands for these reports from their current units (none for a report no longer stored)."""
    for doc in docs:
        store.replace_bands(doc, unit_bands(store.units(doc)) if store.report(doc) is not None else [])


def ensure_bands(store: Any, rebuild: bool = False) -> bool:
    """Bands for every report when the store has none of this version yet (a store from before them, or after
    `VERSION` changed) or when asked to `rebuild` (every report was read again); True when it built them."""
    if store.get_meta(META_KEY) == VERSION and not rebuild:
        return False
    with store.transaction() as c:
        c.execute("DELETE FROM text_bands")
    refresh_bands(store, [r["doc"] for r in store.reports()])
    store.set_meta(META_KEY, VERSION)
    return True


def partner_docs(store: Any, docs: Iterable[str]) -> set[str]:
    """Reports outside `docs` with a unit that shares a band with one of theirs."""
    docs = set(docs)
    return {other for d in docs for other in store.band_partners(d, MAX_SHARING_REPORTS)} - docs


def candidate_units(store: Any, doc: str) -> list[Unit]:
    """Other reports' units that may share a commentary with one of this report's units."""
    return store.units_by_id(uid for ids in store.band_partners(doc, MAX_SHARING_REPORTS).values() for uid in ids)
