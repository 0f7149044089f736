"""Themes: the readable taxonomy (nlp/themes.toml) and a multi-label classifier for units and passages.

Three layers, each usable on its own:

* lexical cues: the taxonomy's example phrases matched against the text (stem prefixes, compound tails;
  where matches overlap, the longest wins);
* zero-shot: embedding similarity of the text to each theme's definition and phrases, combined with the cues
  into a probability-like score with fixed, general constants (no labelled data needed, so a theme added to the
  file is assigned at once);
* supervised: one logistic regression per theme over the text embedding and that theme's own zero-shot and cue
  features, trained on analyst labels and reviewers' decisions. Themes with too few labelled examples fall back
  to zero-shot. Weights are saved as JSON in the data folder (never pickle).

A unit gets 0-3 themes, each {"id", "label", "score"}; a passage gets its unit's themes plus its own.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

import numpy as np

from nlp.taxonomy import Theme, load_taxonomy, taxonomy_fingerprint
from records import Passage, Unit

if TYPE_CHECKING:
    from index.store import Store

MODEL_FILE = "themes_model.json"
MODEL_VERSION = 1
DECISION_TYPE = "unit_theme"
MAX_THEMES = 3
MAX_PASSAGE_THEMES = 5
# A theme needs this many labelled positives (and negatives) before its supervised model is trusted over zero-shot.
MIN_POSITIVES = 3
EMBED_CHARS = 2000  # the model reads ~512 tokens; longer text only costs hashing and tokenising


# ----------------------------------------------------------------------------------------------------------------
# Lexical cues
# ----------------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W\d_]+|\d+")
_MIN_COMPOUND_TAIL = 7  # shorter stems inside words match too much ("brott" in "avbrott")


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer (Snowball)

    return Stemmer.Stemmer("swedish")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(unicodedata.normalize("NFC", text or ""))


def _token_spans(text: str) -> list[tuple[str, int]]:
    return [(m.group(), m.start()) for m in _TOKEN.finditer(unicodedata.normalize("NFC", text or ""))]


@dataclass(frozen=True)
class _Word:
    """How one phrase word matches a text token."""

    key: str  # lowercase stem-like prefix, or the exact word
    exact: bool  # short words and acronyms match whole tokens only
    case_sensitive: bool
    tail: str | None = None  # what must appear inside a compound ("bemanni" in "sjuksköterskebemanningen")

    def locate(self, token: str, lower: str) -> tuple[int, int] | None:
        """The characters of the token this word accounts for, or None when it does not match."""
        if self.case_sensitive:
            return (0, len(token)) if token == self.key else None
        if self.exact:
            return (0, len(token)) if lower == self.key else None
        if lower.startswith(self.key):
            return 0, len(self.key)
        if self.tail:
            at = lower.find(self.tail, 1)
            if at > 0:
                return at, at + len(self.tail)
        return None


def _word(word: str) -> _Word:
    if word.isupper() and len(word) <= 5:  # AI, IVO, ANDT
        return _Word(word, True, True)
    lower = word.lower()
    if len(lower) <= 3:
        return _Word(lower, True, False)
    # The shorter of the Snowball stem and the word less a typical ending, so "rekrytering" also finds
    # "rekrytera" and "kostnader" finds "kostnadsökning".
    stem = _stemmer().stemWord(lower)
    cut = lower[:max(5, len(lower) - 3)]
    key = min(stem, cut, key=len) if len(min(stem, cut, key=len)) >= 4 else lower[:4]
    # Inside a compound only a long piece is safe ("brott" is in "avbrott"); a short stem is lengthened towards
    # the whole word ("arbets" would be in "samarbetsavtal", "arbetst" is not).
    tail = key if len(key) >= _MIN_COMPOUND_TAIL else lower[:len(lower) - 2]
    return _Word(key, False, False, tail if len(tail) >= _MIN_COMPOUND_TAIL else None)


@dataclass(frozen=True)
class CueMatch:
    theme: int
    phrase: str
    start: int  # character offsets into the (NFC-normalised) text
    end: int


class CueMatcher:
    """Finds the taxonomy's phrases in text.

    Overlapping matches are resolved in favour of the one covering most characters, so "trygghetslarm" counts for
    the phrase "trygghetslarm" and not also for "trygghet", while "sjuksköterskebemanning" can count for both
    "sjuksköterska" and "bemanning" (the two cover different parts of the word).
    """

    def __init__(self, themes: Sequence[Theme]):
        self.themes = list(themes)
        self._phrases: list[tuple[int, str, tuple[_Word, ...], int]] = []
        for ti, theme in enumerate(self.themes):
            for phrase in (theme.label.lower(), *theme.phrases):
                words = tuple(_word(w) for w in _tokens(phrase))
                if words:
                    self._phrases.append((ti, phrase, words, len(phrase)))
        # Index phrases by the first four characters of their first word (prefix matches) and, for long keys,
        # by any four characters inside a token (compound tails); exact words by the whole word.
        self._by_head: dict[str, list[int]] = {}
        self._tails: dict[str, list[int]] = {}
        for pi, (_, _, words, _) in enumerate(self._phrases):
            first = words[0]
            head = first.key.lower() if first.exact else first.key[:4]
            self._by_head.setdefault(head, []).append(pi)
            if first.tail:
                self._tails.setdefault(first.tail[:4], []).append(pi)

    def find(self, text: str) -> list[CueMatch]:
        spans = _token_spans(text)
        tokens = [t for t, _ in spans]
        lowers = [t.lower() for t in tokens]
        found: list[tuple[int, int, CueMatch]] = []
        for i, low in enumerate(lowers):
            for pi in self._candidates(low):
                match = self._match_at(pi, i, spans, lowers)
                if match is not None:
                    found.append((match.end - match.start, len(match.phrase), match))
        found.sort(key=lambda x: (-x[0], -x[1], x[2].start))
        claimed: set[int] = set()
        out: list[CueMatch] = []
        for _, _, m in found:
            chars = set(range(m.start, m.end))
            if not chars & claimed:
                claimed |= chars
                out.append(m)
        return sorted(out, key=lambda m: (m.start, m.theme))

    def _match_at(self, pi: int, i: int, spans: list[tuple[str, int]], lowers: list[str]) -> CueMatch | None:
        ti, phrase, words, _ = self._phrases[pi]
        if i + len(words) > len(spans):
            return None
        start = end = -1
        for k, w in enumerate(words):
            token, offset = spans[i + k]
            where = w.locate(token, lowers[i + k])
            if where is None or (k > 0 and where[0] != 0):  # later words of a phrase must start their token
                return None
            if k == 0:
                start = offset + where[0]
            end = offset + where[1]
        return CueMatch(ti, phrase, start, end)

    def _candidates(self, low: str) -> set[int]:
        cands = set(self._by_head.get(low, ())) | set(self._by_head.get(low[:4], ()))
        for k in range(1, len(low) - _MIN_COMPOUND_TAIL + 1):
            cands.update(self._tails.get(low[k:k + 4], ()))
        return cands

    def features(self, title: str, text: str) -> np.ndarray:
        """(n_themes, 2): [log1p(matches in the whole text), 1 if the title matches] per theme."""
        out = np.zeros((len(self.themes), 2), dtype=np.float32)
        for m in self.find(text):
            out[m.theme, 0] += 1
        for m in self.find(title):
            out[m.theme, 1] = 1
        out[:, 0] = np.log1p(out[:, 0])
        return out


# ----------------------------------------------------------------------------------------------------------------
# Embeddings
# ----------------------------------------------------------------------------------------------------------------

class EmbedderLike(Protocol):
    model_id: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


VectorCache = tuple[Callable[[list[str]], dict[str, np.ndarray]], Callable[[dict[str, np.ndarray]], None]]


def _text_hash(text: str) -> str:
    from index.embeddings import text_hash

    return text_hash(text)


def store_cache(store: "Store", model_id: str) -> VectorCache:
    return (lambda hashes: store.cached_vectors(model_id, hashes),
            lambda vectors: store.put_vectors(model_id, vectors))


def embed_texts(embedder: EmbedderLike, texts: list[str], cache: VectorCache | None) -> np.ndarray:
    """Passage vectors through the shared embedding cache, so text already embedded for search is reused."""
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    if cache is None:
        return np.asarray(embedder.embed_passages(texts), dtype=np.float32)
    from index.embeddings import embed_with_cache

    return np.asarray(embed_with_cache(embedder, texts, cache[0], cache[1]), dtype=np.float32)


_THEME_VECTORS: dict[tuple[str, str], tuple[np.ndarray, list[np.ndarray]]] = {}


def theme_vectors(embedder: EmbedderLike, themes: Sequence[Theme],
                  cache: VectorCache | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """(definition vectors (T, d), per theme an array of phrase vectors), embedded as queries once per process.

    Definitions and phrases act as queries looking for passages about the theme, matching e5's training.
    """
    key = (embedder.model_id, taxonomy_fingerprint(themes))
    if key not in _THEME_VECTORS:
        texts = [t.description() for t in themes] + [p for t in themes for p in t.phrases]
        vecs = _embed_queries(embedder, texts, cache)
        defs = vecs[:len(themes)]
        phrases, pos = [], len(themes)
        for t in themes:
            phrases.append(vecs[pos:pos + len(t.phrases)])
            pos += len(t.phrases)
        _THEME_VECTORS[key] = (defs, phrases)
    return _THEME_VECTORS[key]


def _query_batch(embedder: EmbedderLike, texts: list[str]) -> Sequence[np.ndarray]:
    """Query vectors in batches where the embedder allows it (a few hundred phrases one by one take minutes)."""
    batch = getattr(embedder, "embed_queries", None)
    return batch(texts) if batch is not None else [embedder.embed_query(t) for t in texts]


def _embed_queries(embedder: EmbedderLike, texts: list[str], cache: VectorCache | None) -> np.ndarray:
    # Keyed as "query: ..." so the hash never collides with a passage of the same words.
    hashes = [_text_hash("query: " + t) for t in texts] if cache else []
    found = cache[0](hashes) if cache else {}
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    new: dict[str, np.ndarray] = {}
    missing = [i for i in range(len(texts)) if not cache or hashes[i] not in found]
    for i in set(range(len(texts))) - set(missing):
        out[i] = found[hashes[i]]
    if missing:
        vecs = _query_batch(embedder, [texts[i] for i in missing])
        for i, v in zip(missing, vecs):
            out[i] = np.asarray(v, dtype=np.float32)
            if cache:
                new[hashes[i]] = out[i]
    if cache and new:
        cache[1](new)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Features and scores
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class Features:
    """Everything the classifier reads about n texts, for T themes."""

    vectors: np.ndarray  # (n, d) text embeddings
    sims: np.ndarray  # (n, T) similarity to each theme, centred per text
    cues: np.ndarray  # (n, T, 2) cue features
    blank: np.ndarray | None = None  # (n,) True where the text has no content words: such a text gets no theme

    def __len__(self) -> int:
        return len(self.vectors)

    def take(self, idx: Sequence[int]) -> "Features":
        idx = list(idx)
        return Features(self.vectors[idx], self.sims[idx], self.cues[idx],
                        None if self.blank is None else self.blank[idx])



def similarity(vectors: np.ndarray, defs: np.ndarray, phrases: list[np.ndarray]) -> np.ndarray:
    """(n, T): mean of the similarity to the definition and to the three closest phrases, centred per text.

    Centring removes how similar a text is to *any* theme (boilerplate, length), leaving which theme it is closest to.
    """
    s_def = vectors @ defs.T
    s_phr = np.zeros_like(s_def)
    for t, pv in enumerate(phrases):
        if len(pv):
            sims = vectors @ pv.T
            k = min(3, sims.shape[1])
            s_phr[:, t] = np.sort(sims, axis=1)[:, -k:].mean(axis=1)
        else:
            s_phr[:, t] = s_def[:, t]
    s = 0.5 * (s_def + s_phr)
    return s - s.mean(axis=1, keepdims=True)


# Zero-shot constants, set from how e5 similarities spread (a centred similarity of ~0.03 means a text is
# clearly closer to one theme than to the rest) and from what a cue is worth: a phrase in the title is strong
# evidence, a single mention in a long text is weak. Not fitted to any labelled item.
ZS_SIM_SCALE = 60.0
ZS_SIM_CENTRE = 0.03
ZS_CUE_TEXT = 1.2
ZS_CUE_TITLE = 1.5
ZS_BIAS = -0.9
ZS_THRESHOLD = 0.5


def zero_shot_scores(f: Features) -> np.ndarray:
    z = ZS_SIM_SCALE * (f.sims - ZS_SIM_CENTRE) + ZS_CUE_TEXT * f.cues[:, :, 0] + ZS_CUE_TITLE * f.cues[:, :, 1]
    return _sigmoid(z + ZS_BIAS)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


# ----------------------------------------------------------------------------------------------------------------
# Supervised layer
# ----------------------------------------------------------------------------------------------------------------

# The supervised input for theme t is [ZS_LOGIT_GAIN * zero-shot logit, SIM_GAIN * centred similarity, cue features,
# embedding]. Features are deliberately *not* standardised: the zero-shot logit is scaled up so its weight costs
# almost nothing under L2, while the raw embedding dimensions (std ~0.05) are costly to use. With few labels the
# model therefore stays close to zero-shot and only moves away from it where the labels consistently disagree.
ZS_LOGIT_GAIN = 10.0
SIM_GAIN = 30.0
SUP_C = 0.1  # strong L2: a few hundred labelled units, 388 features
N_EXTRA = 4  # features before the embedding


def supervised_matrix(f: Features, t: int, zero_shot: np.ndarray | None = None) -> np.ndarray:
    """Features of theme t's model; `zero_shot` (all themes' zero-shot scores) saves recomputing them per theme."""
    zs = (zero_shot_scores(f) if zero_shot is None else zero_shot)[:, t]
    logit = np.log(np.clip(zs, 1e-6, 1 - 1e-6) / np.clip(1 - zs, 1e-6, 1))
    return np.hstack([ZS_LOGIT_GAIN * logit[:, None], SIM_GAIN * f.sims[:, t:t + 1], f.cues[:, t, :],
                      f.vectors]).astype(np.float64)


@dataclass
class ThemeWeights:
    coef: np.ndarray
    intercept: float
    fingerprint: str
    n_pos: int
    n_neg: int


@dataclass
class ThemeModel:
    """One logistic regression per theme (one-vs-rest) and the decision threshold."""

    model_id: str
    threshold: float
    weights: dict[str, ThemeWeights] = field(default_factory=dict)
    n_examples: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    trained_on: dict[str, Any] = field(default_factory=dict)  # reports and labels folder behind the examples

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MODEL_VERSION, "model_id": self.model_id, "threshold": self.threshold,
            "n_examples": self.n_examples, "sources": self.sources, "trained_on": self.trained_on,
            "themes": {k: {"coef": [round(float(x), 7) for x in w.coef], "intercept": w.intercept,
                           "fingerprint": w.fingerprint, "n_pos": w.n_pos, "n_neg": w.n_neg}
                       for k, w in self.weights.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ThemeModel":
        if d.get("version") != MODEL_VERSION:
            raise ValueError("unknown theme model version")
        weights = {k: ThemeWeights(np.asarray(w["coef"], dtype=np.float64), float(w["intercept"]),
                                   str(w["fingerprint"]), int(w["n_pos"]), int(w["n_neg"]))
                   for k, w in d["themes"].items()}
        return cls(str(d["model_id"]), float(d["threshold"]), weights, int(d.get("n_examples", 0)),
                   dict(d.get("sources", {})), dict(d.get("trained_on") or {}))

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a file

    @classmethod
    def load(cls, path: Path) -> "ThemeModel | None":
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # missing or unreadable: zero-shot until the next training

    def usable(self, theme: Theme, dim: int) -> ThemeWeights | None:
        """The theme's weights, unless the theme was edited since training (then zero-shot is the honest answer)."""
        w = self.weights.get(theme.id)
        if w is None or w.fingerprint != theme.fingerprint() or len(w.coef) != dim + N_EXTRA:
            return None
        return w


def fit_model(f: Features, labels: list[set[str]], themes: Sequence[Theme], model_id: str,
              sources: dict[str, int] | None = None, threshold: float | None = None) -> ThemeModel:
    """Train per-theme models; the threshold is chosen by inner cross-validation on the same examples."""
    from sklearn.linear_model import LogisticRegression

    model = ThemeModel(model_id, ZS_THRESHOLD, {}, len(labels), dict(sources or {}))
    zero_shot = zero_shot_scores(f)
    for t, theme in enumerate(themes):
        y = np.array([theme.id in ls for ls in labels], dtype=int)
        n_pos = int(y.sum())
        if n_pos < MIN_POSITIVES or len(y) - n_pos < MIN_POSITIVES:
            continue  # too little to learn from: this theme stays zero-shot
        clf = LogisticRegression(C=SUP_C, solver="liblinear", max_iter=1000)
        clf.fit(supervised_matrix(f, t, zero_shot), y)
        model.weights[theme.id] = ThemeWeights(clf.coef_[0].copy(), float(clf.intercept_[0]), theme.fingerprint(),
                                               n_pos, len(y) - n_pos)
    model.threshold = threshold if threshold is not None else choose_threshold(f, labels, themes, model_id)
    return model


THRESHOLD_GRID = tuple(round(x, 3) for x in np.arange(0.25, 0.701, 0.025))


def choose_threshold(f: Features, labels: list[set[str]], themes: Sequence[Theme], model_id: str,
                     folds: int = 4) -> float:
    """One global threshold maximising micro-F1 over inner folds of the training examples (ties: nearest 0.5)."""
    n = len(labels)
    if n < 5 * folds:
        return ZS_THRESHOLD
    idx = np.arange(n)
    probs = np.zeros((n, len(themes)))
    for k in range(folds):
        test = idx[k::folds]
        train = np.setdiff1d(idx, test)
        inner = fit_model(f.take(train), [labels[i] for i in train], themes, model_id, threshold=ZS_THRESHOLD)
        probs[test] = scores(f.take(test), themes, inner)
    return float(max(THRESHOLD_GRID, key=lambda th: (micro_f1(assign_ids(probs, themes, th), labels),
                                                    -abs(th - ZS_THRESHOLD))))


def micro_f1(pred: Sequence[Sequence[str]], gold: Sequence[set[str]]) -> float:
    tp = sum(len(set(p) & g) for p, g in zip(pred, gold))
    fp = sum(len(set(p) - g) for p, g in zip(pred, gold))
    fn = sum(len(g - set(p)) for p, g in zip(pred, gold))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def scores(f: Features, themes: Sequence[Theme], model: ThemeModel | None) -> np.ndarray:
    """(n, T) scores in [0, 1]: the theme's supervised model where it has a usable one, zero-shot otherwise."""
    zero_shot = zero_shot_scores(f)
    out = zero_shot.astype(np.float64)
    if model is None or len(f) == 0:
        return _blank_out(f, out)
    dim = f.vectors.shape[1]
    for t, theme in enumerate(themes):
        w = model.usable(theme, dim)
        if w is not None:
            out[:, t] = _sigmoid(supervised_matrix(f, t, zero_shot) @ w.coef + w.intercept)
    return _blank_out(f, out)


def _blank_out(f: Features, out: np.ndarray) -> np.ndarray:
    if f.blank is not None:
        out[f.blank] = 0.0
    return out


def assign_ids(probs: np.ndarray, themes: Sequence[Theme], threshold: float, k: int = MAX_THEMES) -> list[list[str]]:
    return [[themes[t].id for t in _top(row, threshold, k)] for row in probs]


def _top(row: np.ndarray, threshold: float, k: int) -> list[int]:
    order = np.argsort(-row, kind="stable")[:k]
    return [int(t) for t in order if row[t] >= threshold]


def theme_records(row: np.ndarray, themes: Sequence[Theme], threshold: float, k: int = MAX_THEMES
                  ) -> list[dict[str, Any]]:
    return [{"id": themes[t].id, "label": themes[t].label, "score": round(float(row[t]), 3)}
            for t in _top(row, threshold, k)]


# ----------------------------------------------------------------------------------------------------------------
# Texts of units and passages
# ----------------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]{2,}")


def has_content(text: str) -> bool:
    """At least one word of two letters that is not a stopword; markup does not count."""
    from index.indexes import clean_text
    from nlp.swedish import stopwords

    stop = stopwords()
    return any(w.lower() not in stop for w in _WORD.findall(clean_text(text)))


def unit_text(u: Unit) -> str:
    """Title and commentary as one text, without markup (the segmenter may or may not repeat the title)."""
    from index.indexes import clean_text

    title, text = clean_text(u.title), clean_text(u.text)
    body = text if text.startswith(title) else f"{title}: {text}".strip(": ")
    return body[:EMBED_CHARS]


def passage_text(p: Passage) -> str:
    """Exactly the text the search index embeds, so the vector comes from the shared cache."""
    from index.indexes import embedding_text

    return embedding_text(p)


class ThemeClassifier:
    """The taxonomy, an embedder and (optionally) a trained model; turns texts into scores."""

    def __init__(self, themes: Sequence[Theme], embedder: EmbedderLike, cache: VectorCache | None = None,
                 model: ThemeModel | None = None):
        self.themes = list(themes)
        self.embedder = embedder
        self.cache = cache
        self.model = model
        self.matcher = CueMatcher(self.themes)

    @property
    def threshold(self) -> float:
        return self.model.threshold if self.model else ZS_THRESHOLD

    def features(self, titles: list[str], texts: list[str], vectors: np.ndarray | None = None) -> Features:
        if vectors is None:
            vectors = embed_texts(self.embedder, texts, self.cache)
        defs, phrases = theme_vectors(self.embedder, self.themes, self.cache)
        sims = similarity(vectors, defs, phrases) if len(texts) else np.zeros((0, len(self.themes)))
        cues = (np.stack([self.matcher.features(ti, tx) for ti, tx in zip(titles, texts)])
                if texts else np.zeros((0, len(self.themes), 2), dtype=np.float32))
        blank = np.array([not has_content(f"{ti} {tx}") for ti, tx in zip(titles, texts)], dtype=bool)
        return Features(vectors, sims, cues, blank)

    def unit_features(self, units: Sequence[Unit]) -> Features:
        return self.features([u.title or "" for u in units], [unit_text(u) for u in units])

    def passage_features(self, passages: Sequence[Passage]) -> Features:
        return self.features([p.heading or "" for p in passages], [passage_text(p) for p in passages])

    def scores(self, f: Features, zero_shot: bool = False) -> np.ndarray:
        return scores(f, self.themes, None if zero_shot else self.model)

    def classify(self, titles: list[str], texts: list[str]) -> list[list[dict[str, Any]]]:
        """Theme records for free texts (markup is removed first, as for units)."""
        from index.indexes import clean_text

        probs = self.scores(self.features([clean_text(t) for t in titles], [clean_text(t) for t in texts]))
        return [theme_records(row, self.themes, self.threshold) for row in probs]


# ----------------------------------------------------------------------------------------------------------------
# Training data: analyst labels and reviewers' decisions
# ----------------------------------------------------------------------------------------------------------------

def parse_decision_themes(value: str | None) -> list[str]:
    """A unit_theme decision's new_value: a JSON list of theme ids, or ids separated by commas."""
    if not value or not value.strip():
        return []
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = [v for v in re.split(r"[,;\s]+", value) if v]
    if isinstance(parsed, str):
        parsed = [parsed]
    if not isinstance(parsed, list):
        return []
    return [p["id"] if isinstance(p, dict) else str(p) for p in parsed if p]


def reviewer_labels(store: "Store", themes: Sequence[Theme]) -> dict[str, set[str]]:
    """{unit id: theme ids} from the reviewers' latest theme decisions in force.

    Decision format (target_type "unit_theme", target_id a unit id): action "correct" with new_value the theme ids
    (a JSON list or separated by commas; an empty list means "no theme"), or "accept" meaning the suggested themes
    are right (new_value may repeat them; when empty, the unit's current themes are taken). Undone decisions and
    other actions (skip) do not count.
    """
    known = {t.id for t in themes}
    out: dict[str, set[str]] = {}
    for unit_id, d in store.current_decisions(DECISION_TYPE).items():
        if d.action == "correct" or (d.action == "accept" and d.new_value not in (None, "")):
            out[unit_id] = {t for t in parse_decision_themes(d.new_value) if t in known}
        elif d.action == "accept":
            unit = store.unit(unit_id)
            if unit is not None:
                out[unit_id] = {t["id"] for t in unit.themes if isinstance(t, dict) and t.get("id") in known}
    return out


def analyst_labels(units: Sequence[Unit], labels: dict[str, Any] | None, themes: Sequence[Theme]
                   ) -> dict[str, set[str]]:
    """{unit id: theme ids} for analyst-labelled items (a folder read by nlp.labels) matched to our units."""
    from nlp.labels import match_units

    known = {t.id for t in themes}
    by_doc: dict[str, list[Unit]] = {}
    for u in units:
        by_doc.setdefault(u.doc, []).append(u)
    out: dict[str, set[str]] = {}
    for doc, report in (labels or {}).items():
        if doc not in by_doc:
            continue
        for g, u in zip(report.units, match_units(report.units, by_doc[doc])):
            if u is not None:
                out[u.id] = {t for t in g.get("themes") or [] if t in known}
    return out


# ----------------------------------------------------------------------------------------------------------------
# Store-level entry points
# ----------------------------------------------------------------------------------------------------------------

def _load_embedder(store: "Store") -> EmbedderLike:
    """The process-wide embedder of the model the store's vectors were built with (shared with search)."""
    from index.indexes import META_MODEL, get_embedder

    return get_embedder(store.get_meta(META_MODEL))


def model_path(store: "Store") -> Path:
    return Path(store.dir) / MODEL_FILE


def train_themes(store: "Store", labels: dict[str, Any] | None = None, embedder: EmbedderLike | None = None,
                 taxonomy: Path | str | None = None, labels_info: dict[str, Any] | None = None) -> list[str]:
    """Train the supervised layer on reviewers' decisions and, when given, an analyst labels folder already read
    by nlp.labels.load_labels; save it with what it was trained on; report in Swedish lines."""
    themes = load_taxonomy(taxonomy)
    embedder = embedder or _load_embedder(store)
    clf = ThemeClassifier(themes, embedder, store_cache(store, embedder.model_id))
    units = store.units()
    chosen_labels = analyst_labels(units, labels, themes)
    n_gold = len(chosen_labels)
    decided = reviewer_labels(store, themes)
    chosen_labels.update(decided)  # a reviewer's decision wins over the analyst label for the same unit
    if not chosen_labels:
        return ["teman: inga märkta exempel; temana sätts utan träning (nollskott)"]
    chosen = [u for u in units if u.id in chosen_labels]
    f = clf.unit_features(chosen)
    model = fit_model(f, [chosen_labels[u.id] for u in chosen], themes, embedder.model_id,
                      sources={"analytiker": n_gold, "granskare": len(decided)})
    model.trained_on = {"reports": dict(sorted(Counter(u.doc for u in chosen).items())), "labels": labels_info}
    model.save(model_path(store))
    zero = [t.id for t in themes if t.id not in model.weights]
    lines = [f"teman: tränade på {len(chosen)} poster ({n_gold} analytikeretiketter, {len(decided)} granskarbeslut); "
             f"{len(model.weights)} av {len(themes)} teman med egen modell, tröskel {model.threshold:.3f}"]
    if zero:
        lines.append(f"teman utan tillräckligt många exempel (nollskott): {', '.join(zero)}")
    return lines


def describe_model(store: "Store") -> list[str]:
    """What the saved theme model was trained on, in Swedish lines (shown by `cli.py train` and the app)."""
    from nlp.status import trained_on_lines

    model = ThemeModel.load(model_path(store))
    if model is None:
        return ["temamodell: ingen sparad – teman sätts utan träning (nollskott) från nlp/themes.toml"]
    return trained_on_lines("temamodell", model.sources, model.trained_on)


def load_model(store: "Store", model_id: str) -> ThemeModel | None:
    model = ThemeModel.load(model_path(store))
    return model if model is not None and model.model_id == model_id else None


def apply_themes(store: "Store", docs: list[str] | None = None, embedder: EmbedderLike | None = None,
                 taxonomy: Path | str | None = None) -> int:
    """Fill units' and passages' themes for the given reports (all when None). Returns the number of units.

    Uses the saved model (`cli.py train`); without one, trains on reviewers' theme decisions when there are any,
    else classifies zero-shot from the taxonomy. Reviewers' decisions override the classifier for their units.
    """
    themes = load_taxonomy(taxonomy)
    embedder = embedder or _load_embedder(store)
    model = load_model(store, embedder.model_id)
    if model is None and reviewer_labels(store, themes):
        train_themes(store, None, embedder, taxonomy)
        model = load_model(store, embedder.model_id)
    clf = ThemeClassifier(themes, embedder, store_cache(store, embedder.model_id), model)
    units = [u for d in (docs if docs is not None else [None]) for u in store.units(d)]
    unit_themes = classify_units(clf, units, reviewer_labels(store, themes))
    store.set_unit_fields({uid: {"themes": ts} for uid, ts in unit_themes.items()})
    passages = [p for d in (docs if docs is not None else [None]) for p in store.passages(d)]
    store.set_passage_themes(classify_passages(clf, passages, unit_themes))
    return len(units)


def classify_units(clf: ThemeClassifier, units: Sequence[Unit], decided: dict[str, set[str]] | None = None
                   ) -> dict[str, list[dict[str, Any]]]:
    decided = decided or {}
    out: dict[str, list[dict[str, Any]]] = {}
    if not units:
        return out
    probs = clf.scores(clf.unit_features(units))
    labels = {t.id: t.label for t in clf.themes}
    for u, row in zip(units, probs):
        if u.id in decided:
            out[u.id] = [{"id": t, "label": labels[t], "score": 1.0} for t in sorted(decided[u.id])][:MAX_THEMES]
        else:
            out[u.id] = theme_records(row, clf.themes, clf.threshold)
    return out


def classify_passages(clf: ThemeClassifier, passages: Sequence[Passage],
                      unit_themes: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """A passage's own themes plus those of the unit it belongs to (best score per theme, at most five)."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not passages:
        return out
    probs = clf.scores(clf.passage_features(passages))
    for p, row in zip(passages, probs):
        merged: dict[str, dict[str, Any]] = {}
        for rec in unit_themes.get(p.unit_id or "", []) + theme_records(row, clf.themes, clf.threshold):
            if rec["id"] not in merged or rec["score"] > merged[rec["id"]]["score"]:
                merged[rec["id"]] = rec
        out[p.id] = sorted(merged.values(), key=lambda r: -r["score"])[:MAX_PASSAGE_THEMES]
    return out
