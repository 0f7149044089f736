"""Swedish language layer for search: tokenise, lemmatise, stem and split compounds.

The language data (stopwords, lemma table, compound vocabulary) lives here and is handed to the lexical index as
an `Analyzer`; the index itself knows nothing about Swedish.

Normal form of a word: lowercase -> spaCy lookup lemma (spacy-lookups-data, case-sensitive, hence lowercase first)
-> Snowball stem. The stem on top of the lemma repairs gaps in the lookup table ("minska" -> "minsk" but
"minskad" -> "minska": both stem to "minsk").

Compounds are split against a vocabulary (the lemma table's forms and lemmas plus words seen in the indexed corpus)
with the Swedish linking letters s/e/a/u/o, so "hyrsjuksköterskor" yields hyr + sjuksköterskor (+ sjuk + sköterskor)
and "sjuksköterskebemanningen" yields sjuksköterska + bemanningen.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import sqlite3
import sys
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Collection, Iterable

LINK_LETTERS = ("s", "e", "a", "u", "o")
# Weight of a compound part relative to the word it came from, per level of splitting.
PART_WEIGHT = 0.5
MAX_SPLIT_DEPTH = 2  # documents: a word, its parts and their parts
QUERY_DEPTH = 1  # queries: a word and its parts (see Analyzer.query_terms)
MAX_WORD_LEN = 40  # longer "words" are not split: no real compound is that long and the DP is quadratic

_TAG = re.compile(r"<[^<>]*>")
# A word inside a spaCy token: letters/digits, joined by hyphens, apostrophes or the separators of numbers and
# abbreviations ("e-tjänster", "95,3", "2023-08-31", "bl.a"); anything else ("alert(1") separates words.
_WORD = re.compile(r"[^\W_]+(?:[-'’.,:][^\W_]+)*")


@dataclass(frozen=True)
class Word:
    """A word as it stands in a text: `start`/`end` are character offsets into that text."""

    text: str
    lower: str
    start: int
    end: int


@dataclass(frozen=True)
class Term:
    """A normalised search term derived from a word; depth 0 is the word itself, 1+ its compound parts."""

    term: str
    piece: str  # the surface piece it came from (the word or the part as spelled in the word)
    depth: int

    @property
    def weight(self) -> float:
        return PART_WEIGHT ** self.depth


# -- language data ---------------------------------------------------------------------------------------------------
# The lemma table, the vocabulary made from it and the stop words live in one SQLite file beside the model, built
# once from spacy-lookups-data and spaCy. Words are looked up there one at a time (and remembered): a search from a
# cold process needs a few hundred lookups, where parsing the JSON table and building the 1.3 M-word vocabulary
# took ~2 s, and reading it whole still ~0.5 s. Indexing is ~1.4x slower per word than with in-memory tables
# (corpus/: 2.7 s against 1.9 s) and gives the same tokens.
LEXICON_FILE = Path(__file__).resolve().parent.parent / "models" / "lexicon-sv.sqlite"
LEXICON_FORMAT = 2
LOOKUPS_REMEMBERED = 1_000_000


class _Lemmas:
    """form -> lemma, read from the lexicon file on demand; `.get` as on a dict."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self._get = lru_cache(maxsize=LOOKUPS_REMEMBERED)(self._lookup)

    def _lookup(self, form: str) -> str | None:
        row = self._conn.execute("SELECT lemma FROM lemma WHERE form=?", (form,)).fetchone()
        return row[0] if row else None

    def get(self, form: str, default: str | None = None) -> str | None:
        found = self._get(form)
        return default if found is None else found


class _Vocabulary:
    """Membership in the vocabulary, read from the lexicon file on demand."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self._has = lru_cache(maxsize=LOOKUPS_REMEMBERED)(self._lookup)

    def _lookup(self, word: str) -> bool:
        return self._conn.execute("SELECT 1 FROM vocab WHERE word=?", (word,)).fetchone() is not None

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._has(word)


@dataclass(frozen=True)
class Lexicon:
    lemmas: Any  # inflected form -> lemma (spacy-lookups-data's Swedish lookup table): a dict or _Lemmas
    vocabulary: Any  # every form and lemma, lowercased: the words a compound part may be (a set or _Vocabulary)
    stop: frozenset[str]  # spaCy's Swedish stop words


def _lexicon_source() -> str:
    import importlib.metadata as metadata

    return json.dumps({"format": LEXICON_FORMAT, "spacy-lookups-data": metadata.version("spacy-lookups-data"),
                       "spacy": metadata.version("spacy")})


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    source = _lexicon_source()
    try:
        return _open_lexicon(LEXICON_FILE, source)
    except (sqlite3.Error, ValueError):
        pass
    built = _build_lexicon()
    try:
        _write_lexicon(built, LEXICON_FILE, source)
        return _open_lexicon(LEXICON_FILE, source)
    except (OSError, sqlite3.Error):  # a read-only install: use it from memory, build again next time
        return built


def _build_lexicon() -> Lexicon:
    """The tables in memory, from spacy-lookups-data and spaCy (~3 s)."""
    import spacy_lookups_data

    path = Path(str(spacy_lookups_data.sv["lemma_lookup"]))
    if not path.exists():
        path = path.with_name(path.name + ".gz")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        table = json.load(f)
    _spacy()
    from spacy.lang.sv.stop_words import STOP_WORDS

    vocabulary = frozenset(w.lower() for w in (*table.keys(), *table.values()))
    return Lexicon(table, vocabulary, frozenset(STOP_WORDS))


def _write_lexicon(lex: Lexicon, path: Path, source: str) -> None:
    """Written to a temporary file renamed into place, so a reader never sees half a lexicon."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        with conn:
            conn.execute("CREATE TABLE lemma (form TEXT PRIMARY KEY, lemma TEXT) WITHOUT ROWID")
            conn.execute("CREATE TABLE vocab (word TEXT PRIMARY KEY) WITHOUT ROWID")
            conn.execute("CREATE TABLE stop (word TEXT PRIMARY KEY) WITHOUT ROWID")
            conn.execute("CREATE TABLE meta (source TEXT)")
            conn.executemany("INSERT INTO lemma VALUES (?, ?)", lex.lemmas.items())
            conn.executemany("INSERT INTO vocab VALUES (?)", ((w,) for w in lex.vocabulary))
            conn.executemany("INSERT INTO stop VALUES (?)", ((w,) for w in lex.stop))
            conn.execute("INSERT INTO meta VALUES (?)", (source,))
    finally:
        conn.close()
    os.replace(tmp, path)


def _open_lexicon(path: Path, source: str) -> Lexicon:
    if not path.is_file():
        raise ValueError(f"{path} saknas")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    if conn.execute("SELECT source FROM meta").fetchone() != (source,):
        conn.close()
        raise ValueError(f"{path} är byggd från andra versioner")
    stop = frozenset(r[0] for r in conn.execute("SELECT word FROM stop"))
    return Lexicon(_Lemmas(conn), _Vocabulary(conn), stop)


def lemma_table() -> Any:
    """spacy-lookups-data's Swedish lookup lemmatizer table (inflected form -> lemma): use `.get`."""
    return lexicon().lemmas


def normal_word(lower: str) -> str:
    """The normal form search uses for a lowercase word (lemma, then Snowball stem), for code outside the index
    that must match words the same way: 'platserna' and 'platser' -> 'plats'."""
    return _stemmer()(lemma_table().get(lower, lower).lower())


def stopwords() -> frozenset[str]:
    return lexicon().stop


def base_vocabulary() -> Any:
    """Every form and lemma in the lookup table, lowercased: the words a compound part may be (use `in`)."""
    return lexicon().vocabulary


_SPACY_LOCK = threading.Lock()


def _spacy():
    """spaCy, imported without torch. Only its rule-based tokenizer and stop words are used here, but importing
    spaCy imports thinc, which imports torch whenever it is installed: ~2 s and ~500 MB on a search from a cold
    process. torch is hidden while spaCy loads (thinc then records that it has no torch, which only matters to
    thinc's PyTorch layers, never used here); a process that already loaded torch keeps it."""
    with _SPACY_LOCK:
        if "spacy" in sys.modules or "torch" in sys.modules:
            import spacy

            return spacy
        sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
        try:
            import spacy
        finally:
            if sys.modules.get("torch", 0) is None:
                del sys.modules["torch"]
        return spacy


@lru_cache(maxsize=1)
def _tokenizer():
    return _spacy().blank("sv").tokenizer


# Sentences: spaCy's Swedish tokenizer (its exceptions keep "bl.a.", "t.ex.", "m.fl." and decimals whole) and a rule
# on its tokens. spaCy's own "sentencizer" starts a sentence after every full stop, also before a lower-case word
# ("ex. genomförande"), and it puts an opening bullet or parenthesis on the sentence before; Swedish report prose
# starts a sentence with a capital, a digit, a quote, a bullet or a parenthesis, which this rule requires.
_SENTENCE_FINAL = (".", "!", "?", "…")
_SENTENCE_LOCK = threading.Lock()
_MORE_ABBREVIATIONS = ("ca.", "ex.", "inkl.", "jfr.", "resp.", "kl.", "nr.", "st.", "tkr.", "mnkr.", "milj.", "mdkr.",
                       "procentenh.", "prel.", "uppd.")
_OPENERS = frozenset("\"”“«(•–-*")


def _opens_sentence(tokens: list[str], i: int, after_abbreviation: bool) -> bool:
    text = tokens[i]
    if text in _OPENERS and i + 1 < len(tokens):
        text = tokens[i + 1]
    if after_abbreviation:  # "ca. 20", "kap. 3 §": a number after an abbreviation goes on
        return bool(text) and text[0].isupper()
    return bool(text) and (text[0].isupper() or text[0].isdigit() or text[0] in "•–-")


@lru_cache(maxsize=1)
def _sentence_tokenizer() -> Any:
    """A tokenizer of its own: the added abbreviations would change the words `_tokenizer` gives the indexes."""
    nlp = _spacy().blank("sv")
    for short in _MORE_ABBREVIATIONS:  # common in Swedish reports, missing from spaCy's list
        for form in (short, short.capitalize()):
            nlp.tokenizer.add_special_case(form, [{"ORTH": form}])
    return nlp.tokenizer


@lru_cache(maxsize=1)
def _abbreviations() -> frozenset[str]:
    """spaCy's Swedish abbreviations with a full stop ("ca.", "bl.a.", "kap.", "m.m."), lower-cased."""
    return frozenset(k.lower() for k in _sentence_tokenizer().rules if len(k) > 1 and k.endswith("."))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of one paragraph of Swedish prose. A sentence ends after a
    token that ends in . ! ? or … and is followed by space and a token that opens a sentence."""
    if not text.strip():
        return []
    tokenizer = _sentence_tokenizer()
    with _SENTENCE_LOCK:  # a tokenizer is not documented as thread-safe; the app splits in two threads
        doc = tokenizer(text)
    # One pass into plain lists: reading spaCy Token objects costs more than the tokenizing itself. A run of
    # spaces is a token of its own; it only says that the word before it is followed by space.
    tokens: list[str] = []
    starts: list[int] = []
    spaced: list[bool] = []
    for t in doc:
        if t.is_space:
            if spaced:
                spaced[-1] = True
            continue
        tokens.append(t.text)
        starts.append(t.idx)
        spaced.append(bool(t.whitespace_))
    abbreviations = _abbreviations()
    cuts = [starts[0]] + [starts[i] for i in range(1, len(tokens))
                  if tokens[i - 1].endswith(_SENTENCE_FINAL) and spaced[i - 1]
                  and _opens_sentence(tokens, i, tokens[i - 1].lower() in abbreviations)]
    ends = cuts[1:] + [len(text)]
    return [(a, len(text[:b].rstrip())) for a, b in zip(cuts, ends)]


@lru_cache(maxsize=1)
def _stemmer() -> Callable[[str], str]:
    import Stemmer

    return Stemmer.Stemmer("swedish").stemWord


def corpus_vocabulary(words: Iterable[str], min_count: int = 2, min_len: int = 4) -> list[str]:
    """Words from the indexed texts that may serve as compound parts (kommun names, local terms, ...).

    Only words seen at least `min_count` times, so one-off typos and broken hyphenations do not become parts.
    """
    base = base_vocabulary()
    counts = Counter(w for w in words if len(w) >= min_len and w.isalpha())
    return sorted(w for w, n in counts.items() if n >= min_count and w not in base)


# -- compound splitting ---------------------------------------------------------------------------------------------
class CompoundSplitter:
    """Splits a word into the fewest vocabulary words, allowing a linking letter between parts.

    A non-final part may also be a vocabulary word with its final -a or -e dropped (sjuksköterska ->
    "sjukskötersk" + linking e). Words already in the vocabulary are split cautiously (no stopword parts, a last
    part whose normal form has at least 4 letters), so "sköterskor" is not cut into "sköter" + "skor" nor
    "verksamhet" into "verksam" + "het", while "sjukvård" and "sjukvården" both give "vård"; words seen nowhere
    may have short parts. Words the lexicon lacks may start with a
    2-letter particle ("inhyrd" -> in + hyrd, "utbetalningen").
    """

    def __init__(self, vocabulary: Collection[str], lexicon: Collection[str], stop: Collection[str],
                 normal: Callable[[str], str] = str, links: tuple[str, ...] = LINK_LETTERS, min_part: int = 3,
                 min_last_known: int = 4):
        self.vocabulary = vocabulary  # lexicon + corpus words
        self.lexicon = lexicon
        self.normal = normal
        self.stop = stop
        self.particles = frozenset(p for p in stop if len(p) == 2)
        self.links = links
        self.min_part = min_part
        self.min_last_known = min_last_known
        self.split = lru_cache(maxsize=200_000)(self._split)

    def _as_part(self, piece: str, strict: bool) -> str | None:
        """The vocabulary word a non-final piece stands for, if any."""
        for word in (piece, piece + "a", piece + "e"):
            if word in self.vocabulary and not (strict and word in self.stop):
                return word
        return None

    def _split(self, word: str) -> tuple[tuple[str, str], ...]:
        """((piece as spelled, vocabulary word), ...) or () when the word is not a compound."""
        n = len(word)
        if n > MAX_WORD_LEN or not word.isalpha():
            return ()
        strict = word in self.vocabulary
        m = self.min_part
        if n < 2 * m:
            particle = self._particle_split(word) if word not in self.lexicon else None
            return particle[1] if particle else ()
        # best[i]: best segmentation of word[i:], scored (parts, restored endings, -sum of squared lengths).
        best: list[tuple[tuple, tuple] | None] = [None] * (n + 1)
        for i in range(n - m, -1, -1):
            options = []
            tail = word[i:]
            if i > 0 and tail in self.vocabulary and (not strict or self._good_last(tail)):
                options.append(((1, 0, -len(tail) ** 2), ((tail, tail),)))
            for j in range(i + m, n - m + 1):
                part = self._as_part(word[i:j], strict)
                if part is None:
                    continue
                for nxt in (j, j + 1):
                    if (nxt > j and word[j] not in self.links) or nxt > n - m or best[nxt] is None:
                        continue
                    (parts, restored, sq), pieces = best[nxt]
                    score = (parts + 1, restored + (part != word[i:j]), sq - (j - i) ** 2)
                    options.append((score, ((word[i:j], part), *pieces)))
            best[i] = min(options, default=None)
        result = best[0]
        if result is None and word not in self.lexicon:
            result = self._particle_split(word)
        return result[1] if result else ()

    def _good_last(self, tail: str) -> bool:
        return tail not in self.stop and len(self.normal(tail)) >= self.min_last_known

    def _particle_split(self, word: str) -> tuple[tuple, tuple] | None:
        """in+hyrd, ut+betalning: a 2-letter particle before a word of at least 4 letters."""
        head, rest = word[:2], word[2:]
        if head in self.particles and len(rest) >= 4 and rest in self.vocabulary:
            return (2, 0, 0), ((head, head), (rest, rest))
        return None


# -- analyzer -------------------------------------------------------------------------------------------------------
class Analyzer:
    """Text -> words with offsets -> normalised terms (the word's lemma stem plus its compound parts' stems)."""

    def __init__(self, lemmas: dict[str, str], stop: Collection[str], splitter: CompoundSplitter,
                 stem: Callable[[str], str], tokenize: Callable[[str], Iterable[tuple[str, int]]] | None = None,
                 extra_vocabulary: Iterable[str] = ()):
        self.lemmas = lemmas
        self.stop = stop
        self.splitter = splitter
        self.stem = stem
        self._tokenize = tokenize or _spacy_tokens
        self.extra_vocabulary = list(extra_vocabulary)
        self.expand = lru_cache(maxsize=500_000)(self._expand)

    @classmethod
    def default(cls, extra_vocabulary: Iterable[str] = ()) -> "Analyzer":
        """Swedish with spacy-lookups-data lemmas, spaCy stopwords, Snowball stems; `extra_vocabulary` are
        corpus words usable as compound parts (persisted with the lexical index so queries split the same way)."""
        extra = list(extra_vocabulary)
        return _default_analyzer(tuple(extra))

    # words ------------------------------------------------------------------------------------------------------
    def words(self, text: str, display: bool = False) -> list[Word]:
        """Words with offsets into `text`; markup is blanked out first so offsets still point into `text`.
        `display`: words only to highlight in a snippet, found without the tokenizer (whose punctuation rules
        make no difference there), so showing hits never loads spaCy."""
        text = _TAG.sub(lambda m: " " * len(m.group()), text or "")
        out = []
        for tok, idx in ([(text, 0)] if display else self._tokenize(text)):
            for m in _WORD.finditer(tok):
                core = m.group()
                if len(core) >= 2:
                    start = idx + m.start()
                    out.append(Word(core, unicodedata.normalize("NFC", core).lower(), start, start + len(core)))
        return out

    def normal(self, lower: str) -> str:
        """Lemma (lookup table) then Snowball stem of a lowercase word."""
        return self.stem(self.lemmas.get(lower, lower).lower())

    def _expand(self, lower: str) -> tuple[Term, ...]:
        """The terms one lowercase word contributes: itself, then its compound parts (recursively)."""
        if lower in self.stop:
            return ()
        if any(c.isdigit() for c in lower):
            return (Term(lower, lower, 0),)  # numbers, dates, "2030": matched as written
        if "." in lower:
            return ()  # abbreviations such as bl.a., t.ex.
        out: dict[str, Term] = {}
        self._add(out, lower.replace("-", "") if lower.count("-") else lower, lower, 0)
        pieces = [p for p in lower.split("-") if p] if "-" in lower else [lower]
        for piece in pieces:
            if len(pieces) > 1:
                self._add(out, piece, piece, 1)
            self._add_parts(out, piece, 1 if len(pieces) == 1 else 2)
        return tuple(out.values())

    def _add(self, out: dict[str, Term], word: str, piece: str, depth: int) -> None:
        if word in self.stop or len(word) < 2:
            return
        term = self.normal(word)
        if term and (term not in out or out[term].depth > depth):
            out[term] = Term(term, piece, depth)

    def _add_parts(self, out: dict[str, Term], word: str, depth: int) -> None:
        if depth > MAX_SPLIT_DEPTH:
            return
        for piece, vocab_word in self.splitter.split(word):
            self._add(out, vocab_word, piece, depth)
            self._add_parts(out, vocab_word, depth + 1)

    # texts ------------------------------------------------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        """Index tokens of a text: every term of every word (parts count as occurrences too)."""
        return [t.term for w in self.words(text) for t in self.expand(w.lower)]

    def knows(self, text: str) -> bool:
        """Whether a word of `text` is one the analyzer knows: in the Swedish lexicon or the corpus, or a compound of
        such words. A string of letters that is no word gives a search by meaning nothing to go on: its nearest
        passages are merely the least unlike it."""
        for w in self.words(text):
            if w.lower in self.splitter.vocabulary or self.lemmas.get(w.lower) is not None or any(
                    t.depth > 0 for t in self.expand(w.lower)):
                return True
        return False

    def query_terms(self, text: str) -> list[Term]:
        """Distinct query terms, each with the shallowest depth (highest weight) at which it occurs.

        Queries keep the first level of compound parts only: a query word's parts already reach documents whose
        own words split further ("hyrsköterskor" -> hyr), while the parts' parts ("sjuk" of "sjuksköterska") would
        match far more than the user meant."""
        out: dict[str, Term] = {}
        for w in self.words(text):
            for t in self.expand(w.lower):
                if t.depth > QUERY_DEPTH:
                    continue
                if t.term not in out or out[t.term].depth > t.depth:
                    out[t.term] = t
        return sorted(out.values(), key=lambda t: (t.depth, t.term))


_CHUNK = re.compile(r"\S+")


def _spacy_tokens(text: str) -> Iterable[tuple[str, int]]:
    """spaCy's tokens with their offsets. Text of letters and white space only is split on the white space, which is
    what spaCy's rules do with it (tests/test_swedish.py checks every word of the lemma table), so an everyday
    query never loads spaCy (~1 s from a cold process)."""
    chunks = list(_CHUNK.finditer(text))
    if all(m.group().isalpha() for m in chunks):
        return [(m.group(), m.start()) for m in chunks]
    return ((t.text, t.idx) for t in _tokenizer()(text))


@dataclass(frozen=True)
class _Either:
    """Membership in either of two sets, without copying the 1.3 M-word one into a union (~0.2 s per load)."""

    first: Any
    second: frozenset[str]

    def __contains__(self, word: object) -> bool:
        return word in self.first or word in self.second


@lru_cache(maxsize=4)
def _default_analyzer(extra: tuple[str, ...]) -> Analyzer:
    base = base_vocabulary()
    vocabulary = _Either(base, frozenset(extra)) if extra else base
    stop = stopwords()
    lemmas, stem = lemma_table(), _stemmer()
    splitter = CompoundSplitter(vocabulary, lexicon=base, stop=stop,
                                normal=lambda w: stem(lemmas.get(w, w).lower()))
    return Analyzer(lemmas, stop, splitter, stem, extra_vocabulary=extra)
