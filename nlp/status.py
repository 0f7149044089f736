"""Statuses: status sentences (inline and in summaries), the phrase cues, and the text classifier.

The *stated* status's vocabulary (what "Delvis uppfyllt" or a report's "grönt" means) is nlp/status_vocab.py. Here:
the *suggested* status, which a classifier reads from the unit's title and commentary only (never the stated
status), with calibrated probabilities and the one or two sentences that weigh most as evidence.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
import tomllib
from itertools import islice
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from records import Unit

from nlp.status_vocab import CANONICAL, HERE, canonical_status, expand, load_map, norm
from nlp.status_learning import (META_DECISIONS, Local, adapt_to_decisions, centred, decision_count,
                                 informative_order, retrain_due)
from nlp.swedish import sentence_spans

CUES_PATH = HERE / "status_cues.toml"
SUGGESTED = ("genomförd", "enligt plan", "försenad")  # the classes the text classifier can suggest


# ------------------------------------------------------------------------------------------------------------------
# Sentences with line numbers
# ------------------------------------------------------------------------------------------------------------------

@dataclass
class Sentence:
    line: int  # 1-based line where the sentence starts
    text: str


_BULLET = re.compile(r"^\s*(?:[•▪◦·*]|[-–](?=\s)|\d+[.)](?=\s))")


def split_sentences(text_lines: list[tuple[int, str]]) -> list[Sentence]:
    """Sentences of consecutive clean lines; wrapped lines are joined, blank lines, tabs and bullets break, and
    each paragraph is split by nlp.swedish.sentence_spans (spaCy).

    A sentence keeps the number of the line where it starts, so evidence can be shown in context.
    """
    out: list[Sentence] = []
    buf: list[tuple[int, str]] = []  # (line, text piece) of the paragraph being collected

    def flush() -> None:
        if not buf:
            return
        joined, starts = "", []
        for ln, piece in buf:
            if joined:
                joined += " "
            starts.append((len(joined), ln))
            joined += piece
        for idx, end in sentence_spans(joined):
            ln = max((l for s, l in starts if s <= idx), default=buf[0][0])
            part = " ".join(joined[idx:end].split())
            if re.search(r"[0-9A-Za-zåäöÅÄÖ]", part):
                out.append(Sentence(ln, part))
        buf.clear()

    for ln, text in text_lines:
        text = re.sub(r"<[^<>]+>", " ", text or "")
        if not text.strip():
            flush()
            continue
        cells = [c for c in text.split("\t")]
        for ci, cell in enumerate(cells):
            if ci > 0 or _BULLET.match(cell):
                flush()
            if cell.strip():
                buf.append((ln, cell.strip()))
        if len(cells) > 1:
            flush()
    flush()
    return out


# ------------------------------------------------------------------------------------------------------------------
# Stated status written as a sentence: inline (inside the unit's own text) or in a summary elsewhere
# ------------------------------------------------------------------------------------------------------------------

_DEGREE = "{degree_full}|{degree_high}|{degree_part}|{degree_low}|{negation}"
# An item's own status sentence: "Uppdraget är färdigt.", "Åtgärden med X bedöms vara försenad." The {...} word
# lists are status_map.toml's; the subject is one of its item words.
_INLINE_PATTERNS = [
    r"{item_subject}(?: med [\wåäö]+)? (?:är|har) (?:{negation}) (?:{start_verb})",
    r"{item_subject}(?: med [\wåäö]+)? (?:genomförs inte|kommer inte att genomföras|har avbrutits|har stoppats)",
    r"{item_subject}(?: med [\wåäö]+)? (?:är|har) (?:nu )?(?:{done_word})\b",
    r"{item_subject}(?: med [\wåäö]+)? (?:är|bedöms vara|har) (?:försenad|försenat|försenats)",
    r"{item_subject}(?: med [\wåäö]+)? (?:löper|går|fortlöper|fortgår|fortskrider) (?:på )?(?:{in_line}) (?:{plan_noun})",
    r"bedöms (?:" + _DEGREE + r") svara mot [\wåäö]+",
    r"(?:" + _DEGREE + r") (?:leder|leda) till (?:önskat|avsett|förväntat) resultat",
]
# A summary sentence elsewhere in the report that names an item and gives its status.
_SUMMARY_PATTERNS = [
    r"bedöms (?:vara |som )?(?:försenad|försenat|försenade|{done_word})\b",
    r"(?:(?:{degree_high}) )?(?:{in_line}) (?:{plan_noun})\b",
    r"(?:" + _DEGREE + r") (?:leder|leda) till (?:önskat|avsett|förväntat) resultat",
    r"(?:är|har) (?:försenad|försenat|försenats|(?:{negation}) (?:{start_verb}))",
    r"(?:är|har) (?:genomförd|genomfört|genomförts|slutförts|avslutats)",
]


@lru_cache(maxsize=1)
def _inline() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(expand(p, load_map().words), re.I) for p in _INLINE_PATTERNS)


@lru_cache(maxsize=1)
def _summary() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(expand(p, load_map().words), re.I) for p in _SUMMARY_PATTERNS)


_SHORT_SENTENCE = 90


def _phrase_line(text_lines: list[tuple[int, str]], start: int, phrase: str) -> int:
    """The line where a phrase found in a (possibly wrapped) sentence begins."""
    want = norm(phrase)
    head = " ".join(want.split()[:2])
    later = [(k, norm(t)) for k, t in islice((x for x in text_lines if x[0] >= start), 30)]
    return next((k for k, t in later if want in t), next((k for k, t in later if head and head in t), start))


def find_inline_status(text_lines: list[tuple[int, str]]) -> tuple[str, int] | None:
    """The first sentence in a unit's own text that states its status ("Uppdraget är färdigt.").

    Returns the verbatim sentence when it is short, else the status phrase itself, and the line it starts on.
    """
    for s in split_sentences(text_lines):
        for pattern in _inline():
            m = pattern.search(s.text)
            if m and canonical_status(m.group(0)):
                found = s.text if len(s.text) <= _SHORT_SENTENCE else m.group(0)
                return found, _phrase_line(text_lines, s.line, found)
    return None


_TITLE_PREFIX = re.compile(r"^(?:(?:nämndmål|mål|uppdrag|åtgärd|inriktningsmål|fokusmål|åtagande)\s+)?\d+(?:\s\d+)*\s+")
_QUOTED = re.compile(r"\*([^*]{3,300})\*|[\"”“]([^\"”“]{3,300})[\"”“]|«([^»]{3,300})»")


# find_summary_statuses asks _names for every (summary sentence, unit) pair: the normalised forms are cached so
# each title and sentence is normalised once, and the cheap upper bounds of SequenceMatcher.ratio() rule out most
# pairs before the quadratic ratio() runs (same answers, far less time on long reports).
@lru_cache(maxsize=8192)
def _core_title(title: str) -> str:
    return _TITLE_PREFIX.sub("", norm(title))


@lru_cache(maxsize=256)
def _sentence_forms(sentence: str) -> tuple[str, tuple[str, ...]]:
    spans = tuple(norm(next(g for g in m.groups() if g)) for m in _QUOTED.finditer(sentence))
    return f" {norm(sentence)} ", spans


def _close(span: str, core: str) -> bool:
    sm = SequenceMatcher(None, span, core)
    return sm.real_quick_ratio() >= 0.85 and sm.quick_ratio() >= 0.85 and sm.ratio() >= 0.85


def _names(sentence: str, title: str) -> bool:
    """Does the sentence name the item: a quoted span close to the title, or the whole (distinctive) title?"""
    core = _core_title(title)
    if len(core) < 12:
        return False
    padded, spans = _sentence_forms(sentence)
    for span in spans:
        if _close(span, core) or (len(span) >= 30 and core.startswith(span)):
            return True
    return f" {core} " in padded


def find_summary_statuses(doc_lines: list[str], units: list[Unit]) -> dict[str, tuple[str, int]]:
    """Unit id -> (status phrase, line) for sentences anywhere in the report that name an item and give its status
    ("Åtgärden *X* bedöms vara försenad."). The first such sentence per unit wins; a unit's title line does not count.
    """
    found: dict[str, tuple[str, int]] = {}
    numbered = list(enumerate(doc_lines, start=1))
    for s in split_sentences(numbered):
        m = next((m for p in _summary() if (m := p.search(s.text))), None)
        if not m or not canonical_status(m.group(0)):
            continue
        for u in units:
            if u.id in found or s.line == (u.title_line or u.line_start):
                continue
            if _names(s.text, u.title):
                found[u.id] = (m.group(0), _phrase_line(numbered, s.line, m.group(0)))
    return found


# ------------------------------------------------------------------------------------------------------------------
# Rule cues over Swedish phrases
# ------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cue:
    id: str
    kind: str  # the flags' view: done, ongoing, delayed, not_started, stopped, planned, negative, positive
    cls: str  # the classifier's view: a canonical status
    weight: float  # 0: a flags-only cue, not a classifier feature
    positive: bool
    pattern: re.Pattern[str]


CUE_KINDS = ("done", "ongoing", "delayed", "not_started", "stopped", "planned", "negative", "positive")


@lru_cache(maxsize=1)
def _negation_before() -> re.Pattern[str]:
    """A negation or hedge right before a cue (at most one word between): "inte helt genomförd", "delvis enligt"."""
    w = load_map().words
    return re.compile(rf"\b(?:{w['negation']}|{w['degree_part']})( \w+)?\s*$")


@lru_cache(maxsize=4)
def load_cues(path: Path = CUES_PATH) -> tuple[Cue, ...]:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    words = load_map().words
    cues = tuple(Cue(c["id"], c["kind"], c["class"], float(c["weight"]), bool(c.get("positive", False)),
                     re.compile(expand(c["pattern"], words), re.I)) for c in data["cue"])
    bad = {c.cls for c in cues} - set(CANONICAL) | {c.kind for c in cues} - set(CUE_KINDS)
    if bad:
        raise ValueError(f"{path}: unknown class or kind {sorted(bad)}")
    return cues


def classifier_cues() -> tuple[Cue, ...]:
    return tuple(c for c in load_cues() if c.weight > 0)


def cue_matches(text: str, cues: tuple[Cue, ...] | None = None) -> list[tuple[Cue, re.Match[str]]]:
    """Each cue the text carries, with its first match not right after a negation (for a positive cue)."""
    out = []
    for cue in load_cues() if cues is None else cues:
        for m in cue.pattern.finditer(text):
            if cue.positive and _negation_before().search(text[:m.start()].lower()):
                continue
            out.append((cue, m))
            break
    return out


def cue_hits(sentence: str) -> list[Cue]:
    """The classifier's cues a sentence carries (each once), matched on its normalised words. A 'done' cue in a
    sentence about an activity inside the item ("vi har genomfört två utbildningar") and not about the item itself
    says nothing about whether the item is done, and is dropped."""
    text = norm(sentence)
    hits = [cue for cue, _ in cue_matches(text, classifier_cues())]
    if any(c.kind == "done" for c in hits) and about_an_activity(text):
        hits = [c for c in hits if c.kind != "done"]
    return hits


def about_an_activity(normed: str) -> bool:
    item_done, activity_done = _scope()[:2]
    return bool(activity_done.search(normed)) and not item_done.search(normed)


def baseline_class(cls: str) -> str:
    """The three suggestion classes: not started and stopped both mean 'not going as planned'."""
    return "försenad" if cls in ("ej påbörjad", "stoppad") else cls


def cue_scores(sentences: list[Sentence]) -> dict[str, float]:
    scores = dict.fromkeys(SUGGESTED, 0.0)
    for s in sentences:
        for cue in cue_hits(s.text):
            scores[baseline_class(cue.cls)] += cue.weight
    return scores


def rule_suggestion(sentences: list[Sentence]) -> str:
    """The cues-only baseline: the class with most cue weight; no cue at all reads as 'enligt plan'."""
    scores = cue_scores(sentences)
    best = max(SUGGESTED, key=lambda c: (scores[c], c == "enligt plan"))
    return best if scores[best] > 0 else "enligt plan"


# ------------------------------------------------------------------------------------------------------------------
# What the classifier sees: the title and the commentary, never the stated status
# ------------------------------------------------------------------------------------------------------------------

_LABEL_ONLY = re.compile(r"^(status|bedömning|måluppfyllelse|prognos( för måluppfyllelse)?|färdiggrad|kommentar|"
                         r"analys|resultat|utvärdering)[:.]?$", re.I)
MAX_SENTENCES = 40  # the evidence search stops here; long units are rare and their first sentences carry the gist


def _is_stated_value(text: str, unit: Unit) -> bool:
    """A cell or line that only names a status (a column value, a label) is the stated status, not commentary."""
    n = norm(text)
    if not n:
        return True
    if unit.explicit_status and n == norm(unit.explicit_status) and unit.explicit_status_source in ("column", "symbol"):
        return True
    return n in load_map().exact or bool(_LABEL_ONLY.match(text.strip()))


def _locate_lines(unit: Unit, line_text: dict[int, str]) -> list[tuple[int, str]]:
    """Each line of unit.text with the report line it came from (the first one at or after the previous match)."""
    first = unit.title_line or unit.line_start
    numbers = sorted(k for k in line_text if first <= k <= unit.line_end)
    normed = {k: norm(line_text[k]) for k in numbers}
    cursor, out = first, []
    for piece in (unit.text or "").split("\n"):
        p = norm(piece)
        if not p:
            continue
        hit = next((k for k in numbers if k >= cursor and normed[k] and (p in normed[k] or normed[k] in p)), None)
        cursor = hit if hit is not None else cursor
        out.append((cursor, piece))
    return out


def commentary_sentences(unit: Unit, line_text: dict[int, str] | None = None) -> list[Sentence]:
    """The unit's commentary as sentences with line numbers; title, status cells and labels removed."""
    # Lines that only hold a status word or a label are cells, not commentary: drop them before joining lines.
    pairs = [(ln, t) for ln, t in _locate_lines(unit, line_text or {}) if not _is_stated_value(t, unit)]
    title = norm(unit.title)
    out = []
    for s in split_sentences(pairs):
        n = norm(s.text)
        if _is_stated_value(s.text, unit) or (n and n in title):
            continue
        out.append(s)
    return out


# ------------------------------------------------------------------------------------------------------------------
# Dates: deadlines and plans against the report's date
# ------------------------------------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
                                       "september", "oktober", "november", "december"], start=1)}
_SEASONS = {"våren": 5, "vår": 5, "sommaren": 7, "hösten": 11, "höst": 11, "vintern": 12, "årsskiftet": 12,
            "halvåret": 6, "första halvåret": 6, "andra halvåret": 12, "slutet av": 12, "början av": 2}
_ISO = re.compile(r"\b(20\d\d)-(\d\d)-(\d\d)\b")
_NAMED = re.compile(r"\b(" + "|".join(sorted(list(_MONTHS) + list(_SEASONS), key=len, reverse=True)) + r")\s+(20\d\d)\b")
_YEAR_AFTER_PREP = re.compile(r"\b(?:under|till|senast|inför|innan|före|efter|från och med|fr o m|år|i slutet av)\s+(20\d\d)\b")
_FUTURE_VERB = re.compile(r"\b(planeras|planerar|kommer att|kommer|ska|skall|beräknas|väntas|förväntas|avses|avser|"
                          r"är planerad|är planerat|siktar)\b")
_DEADLINE_WORD = re.compile(r"\b(senast|klart|klar|färdigt|färdig|slutdatum|deadline|ska vara|skulle|skulle ha|"
                            r"skulle vara|var planerad|var planerat|planerades|var tänkt)\b")


def report_reference_date(report: dict | None) -> tuple[int, int] | None:
    """(year, month) the report speaks from: its decision date, else the end of a delår (August) of its year."""
    if not report:
        return None
    m = _ISO.search(report.get("report_date") or "")
    if m:
        return int(m.group(1)), int(m.group(2))
    return (int(report["year"]), 8) if report.get("year") else None


def _mentions(text: str) -> list[tuple[int, int]]:
    low = text.lower()
    found = [(int(y), int(mo)) for y, mo, _ in _ISO.findall(low)]
    for word, y in _NAMED.findall(low):
        found.append((int(y), _MONTHS.get(word) or _SEASONS.get(word, 12)))
    found += [(int(y), 12) for y in _YEAR_AFTER_PREP.findall(low)]
    return found


def date_features(sentences: list[Sentence], title_row: str, ref: tuple[int, int] | None) -> dict[str, float]:
    """Plans still ahead of the report date, deadlines already behind it, and a row's end date (Slutdatum)."""
    out = {"date:future_plan": 0.0, "date:deadline_passed": 0.0, "date:end_passed": 0.0, "date:end_future": 0.0}
    if ref is None:
        return out
    for s in sentences:
        low = s.text.lower()
        for when in _mentions(low):
            if when > ref and _FUTURE_VERB.search(low):
                out["date:future_plan"] = 1.0
            if when < ref and _DEADLINE_WORD.search(low):
                out["date:deadline_passed"] = 1.0
    row_dates = [(int(y), int(mo)) for y, mo, _ in _ISO.findall(title_row or "")]
    if len(row_dates) >= 2:  # a start and an end date on the item's own row
        out["date:end_passed" if row_dates[-1] < ref else "date:end_future"] = 1.0
    return out


# ------------------------------------------------------------------------------------------------------------------
# Language checks: other languages and bare numbers get low confidence, said so
# ------------------------------------------------------------------------------------------------------------------

_SWEDISH_FUNCTION_WORDS = set("""och att det som en ett är för på med har av till i inte den de ska kan under om vi sig
från eller vara efter också detta dessa samt genom vid hos mot då när så men nu har hade blir blev finns sker kommer
arbetet nämnden uppdraget åtgärden""".split())
_ENGLISH_FUNCTION_WORDS = set("the and of to is in for on with has have be are was this that it by as from".split())


def text_quality(text: str) -> str | None:
    """'numbers' when the text has no words to read, 'language' when it is clearly not Swedish, else None."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    if len(words) < 2:
        return "numbers"
    if len(words) < 5:
        return None
    sw = sum(w in _SWEDISH_FUNCTION_WORDS for w in words) / len(words)
    en = sum(w in _ENGLISH_FUNCTION_WORDS for w in words) / len(words)
    swedish_letters = bool(re.search(r"[åäö]", text.lower()))
    if sw < 0.05 and (en > sw or not swedish_letters):
        return "language"
    return None


# ------------------------------------------------------------------------------------------------------------------
# Features
# ------------------------------------------------------------------------------------------------------------------

def feature_names() -> list[str]:
    """Names of the hand-made features (the embedding's dimensions come first and are not named)."""
    return ([f"cue:{c.id}" for c in classifier_cues()] + [f"class:{c}" for c in CANONICAL] + ["cue_share"]
            + ["date:future_plan", "date:deadline_passed", "date:end_passed", "date:end_future", "len_words"]
            + list(TENSES) + list(SCOPE) + ["title:goal"])


# Tense is a general signal: done work is told in the perfect/preterite, ongoing in the present, plans in the future.
TENSES = {
    "tense:perfect": re.compile(r"\b(har|hade|har nu|har också|har även)( \w+)? \w+(ats|its|tts|at|it|tt)\b|\b\w+(ades|des|tes)\b"),
    "tense:future": re.compile(r"\b(kommer att|ska|skall|planeras|avses|beräknas|förväntas|framöver|inför)\b"),
    "tense:present": re.compile(r"\b(pågår|arbetar|fortsätter|sker|genomförs|utvecklas|pågående)\b"),
}
# Whose status a sentence gives: the item as a whole ("Uppdraget är genomfört") or an activity inside it ("vi har
# genomfört två utbildningar", "Samverkan har skett") – the commonest way an on-plan item reads as done. Also hedges
# and work that goes on. General Swedish: the active supine takes an object (someone did something), the passive
# participle after an item word is the item's own state, counted events are activities.
_COUNTED_EVENTS = (r"\b(\d+|två|tre|fyra|fem|sex|sju|åtta|nio|tio|flera|ett antal|några|ett flertal)\s+(\w+\s+)?"
                   r"(utbildningar|utbildningstillfällen|möten|träffar|\w*möten|\w*träffar|workshops|seminarier|"
                   r"tillfällen|aktiviteter|besök|föreläsningar|dialoger|samtal|kurser)\b")
SCOPE = {
    "scope:item_done": r"\b({item_subject}|det|detta)\b(\s+\w+){0,4}\s+(är|har|blev|bedöms vara|bedöms som)\s+"
                       r"(nu\s+)?(helt\s+)?({done_word}|genomförts|slutförts|avslutats|färdigställts|verkställts)\b",
    "scope:activity_done": r"\b(har|hade)\s+(\w+\s+){0,2}(genomfört|hållit|anordnat|arrangerat|erbjudit|deltagit|"
                           r"träffat|besökt|utbildat|informerat|skickat|bjudit in|haft|skett|ägt rum|hållits)\b|"
                           + _COUNTED_EVENTS,
    "scope:hedge": r"\b(bedöms|bedömer|förväntas|beräknas|troligen|sannolikt|förhoppningsvis|preliminärt)\b",
    "scope:goes_on": r"\b(fortsätter|fortsatt|kvarstår|återstår|fortlöpande|löpande|vidare under|framöver)\b",
}


@lru_cache(maxsize=1)
def _scope() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(expand(p, load_map().words)) for p in SCOPE.values())


_GOAL_TITLE = re.compile(r"\b(mål|målet|inriktningsmål|fokusmål|verksamhetsmål|nämndmål|kf-mål)\b")


def hand_features(sentences: list[Sentence], title_row: str, ref: tuple[int, int] | None,
                  title: str = "") -> np.ndarray:
    cues = classifier_cues()
    counts = dict.fromkeys((c.id for c in cues), 0.0)
    by_class = dict.fromkeys(CANONICAL, 0.0)
    with_cue = 0
    for s in sentences:
        hits = cue_hits(s.text)
        with_cue += bool(hits)
        for c in hits:
            counts[c.id] += 1
            by_class[c.cls] += c.weight
    words = sum(len(s.text.split()) for s in sentences)
    dates = date_features(sentences, title_row, ref)
    normed = [norm(s.text) for s in sentences]
    tenses = [sum(bool(p.search(n)) for n in normed) / max(1, len(normed)) for p in (*TENSES.values(), *_scope())]
    values = ([np.log1p(v) for v in counts.values()] + [np.log1p(v) for v in by_class.values()]
              + [with_cue / max(1, len(sentences))] + list(dates.values()) + [np.log1p(words)]
              + tenses + [float(bool(_GOAL_TITLE.search(norm(title))))])
    return np.asarray(values, dtype=np.float32)


def unit_embedding_text(unit: Unit, sentences: list[Sentence]) -> str:
    return (unit.title.strip() + "\n" + " ".join(s.text for s in sentences))[:2000]


class CachedEmbeddings:
    """Embeds texts through the store's embedding cache, so retraining and evaluation embed each text once."""

    def __init__(self, embedder: Any, store: Any | None = None):
        self.embedder = embedder
        self.store = store
        self.model_id = embedder.model_id
        self.dim = int(embedder.dim)

    def __call__(self, texts: list[str]) -> np.ndarray:
        from nlp.themes import embed_texts, store_cache

        return embed_texts(self.embedder, texts,
                           store_cache(self.store, self.model_id) if self.store is not None else None)


def load_embedder(store: Any = None) -> Any:
    """The process-wide embedder of the store's model (shared with search, themes and the indexes)."""
    from index.indexes import META_MODEL, get_embedder

    return get_embedder(store.get_meta(META_MODEL) if store is not None else None)


@dataclass
class UnitInput:
    """Everything the classifier needs about one unit, gathered once."""

    unit: Unit
    sentences: list[Sentence]
    title_row: str
    ref: tuple[int, int] | None
    quality: str | None = None  # "title", "language", "numbers": text the model cannot read (see NOTES)
    commentary: bool | None = None  # set when the sentences were not gathered (features from the cache) ...
    cue: str | None = None  # ... and then also the phrase rules' clear class (cue_label), if any

    @property
    def has_commentary(self) -> bool:
        return bool(self.sentences) if self.commentary is None else self.commentary


def title_echo(unit: Unit, line_text: dict[int, str]) -> list[Sentence]:
    """Sentences of the unit's text (which never holds the title line itself) that repeat the whole title: a
    commentary that says nothing new."""
    title = norm(unit.title)
    pairs = [(ln, t) for ln, t in _locate_lines(unit, line_text) if not _is_stated_value(t, unit)]
    return [s for s in split_sentences(pairs) if title and norm(s.text) == title]


def gather_inputs(store: Any, units: list[Unit]) -> list[UnitInput]:
    """Commentary sentences (with line numbers from the store's clean lines) and the report date per unit."""
    reports = {r["doc"]: r for r in store.reports()}
    lines_by_doc: dict[str, dict[int, str]] = {}
    out = []
    for u in units:
        if u.doc not in lines_by_doc:
            lines_by_doc[u.doc] = dict(store.lines(u.doc))
        line_text = lines_by_doc[u.doc]
        row = line_text.get(u.title_line or u.line_start, "")
        sentences = commentary_sentences(u, line_text)
        quality = text_quality(" ".join(s.text for s in sentences)) if sentences else None
        if not sentences and (echo := title_echo(u, line_text)):
            sentences, quality = echo[:1], "title"
        out.append(UnitInput(u, sentences, row, report_reference_date(reports.get(u.doc)), quality))
    return out


def build_matrix(inputs: list[UnitInput], embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """One row per unit: embedding of title + commentary, then the hand features."""
    if not inputs:
        return np.zeros((0, 0), dtype=np.float32)
    emb = embed([unit_embedding_text(i.unit, i.sentences) for i in inputs])
    hand = np.stack([hand_features(i.sentences, i.title_row, i.ref, i.unit.title) for i in inputs])
    return np.hstack([emb, hand]).astype(np.float32)


# ------------------------------------------------------------------------------------------------------------------
# The classifier: logistic regression on embeddings + cue/date features, temperature-calibrated, saved as JSON
# ------------------------------------------------------------------------------------------------------------------

MODEL_FILE = "status_model.json"
MODEL_FORMAT = 1
REGULARISATION_C = 0.02  # strong: a few hundred labelled units (0.01–0.05 score alike in leave-one-report-out)
PCA_COMPONENTS = 16
WEIGHTS = {"decision": 2.0, "labels": 1.0, "stated": 0.75, "cue": 0.3}  # stated words mostly agree with analysts
TRAIN_WITH_CUE_LABELS = False  # clear phrase cues as weak labels in `cli.py train` (always on the fly at ingest)
UNCERTAIN = 0.5  # below this top probability the suggestion is 'osäker' and names the two likeliest
NOTES = {
    "empty": "Ingen kommentar att bedöma – inget förslag.",
    "language": "Texten verkar inte vara på svenska – förslaget är osäkert.",
    "numbers": "Texten består nästan bara av siffror – förslaget är osäkert.",
    "title": "Kommentaren upprepar bara rubriken – förslaget är osäkert.",
    "low": "Texten ger inga tydliga belägg för någon status.",
    "rules": "Förslag från frasregler (det finns för lite märkt data för en modell).",
}


@dataclass
class StatusModel:
    """Raw rows are [embedding | hand features]; the embedding is first projected on a few principal components
    (fitted without labels on all units), then everything is standardised and fed to the logistic regression."""

    classes: list[str]
    coef: np.ndarray  # (classes, features), on standardised features
    intercept: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    temperature: float
    model_id: str
    trained_on: dict[str, Any]
    pca_mean: np.ndarray  # (embedding dim,)
    pca_components: np.ndarray  # (components, embedding dim)

    def transform(self, X: np.ndarray) -> np.ndarray:
        dim = self.pca_mean.shape[0]
        return np.hstack([(X[:, :dim] - self.pca_mean) @ self.pca_components.T, X[:, dim:]])

    def logits(self, X: np.ndarray) -> np.ndarray:
        return ((self.transform(X) - self.mean) / self.scale) @ self.coef.T + self.intercept

    def proba(self, X: np.ndarray) -> np.ndarray:
        return _softmax(self.logits(X) / self.temperature)

    def to_json(self) -> dict[str, Any]:
        return {"format": MODEL_FORMAT, "classes": self.classes, "coef": self.coef.round(7).tolist(),
                "intercept": self.intercept.round(7).tolist(), "mean": self.mean.round(7).tolist(),
                "scale": self.scale.round(7).tolist(), "temperature": self.temperature, "model_id": self.model_id,
                "pca_mean": self.pca_mean.round(7).tolist(), "pca_components": self.pca_components.round(7).tolist(),
                "feature_names": feature_names(), "trained_on": self.trained_on}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "StatusModel":
        if d.get("format") != MODEL_FORMAT or d.get("feature_names") != feature_names():
            raise ValueError("status model was saved for other features")
        m = cls(list(d["classes"]), np.asarray(d["coef"], dtype=np.float64), np.asarray(d["intercept"]),
                np.asarray(d["mean"]), np.asarray(d["scale"]), float(d["temperature"]), d["model_id"],
                d.get("trained_on", {}), np.asarray(d["pca_mean"], dtype=np.float64),
                np.asarray(d["pca_components"], dtype=np.float64))
        k, dim = m.pca_components.shape if m.pca_components.ndim == 2 else (-1, -1)
        if (m.coef.shape != (len(m.classes), len(m.mean)) or m.scale.shape != m.mean.shape
                or dim != m.pca_mean.shape[0] or len(m.mean) != k + len(feature_names())):
            raise ValueError("status model has inconsistent shapes")
        return m

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "StatusModel | None":
        """The saved model, or None when there is none or it cannot be used (then one is trained on the fly)."""
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _fit_lr(Z: np.ndarray, y: np.ndarray, w: np.ndarray, C: float) -> LogisticRegression:
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=5000)
    return lr.fit(Z, y, sample_weight=w)


def _fit_temperature(Z: np.ndarray, y: np.ndarray, w: np.ndarray, C: float, classes: list[str]) -> float:
    """One temperature on out-of-fold logits (minimum weighted log loss): sharpness right, ranking untouched."""
    counts = [int((y == c).sum()) for c in classes]
    folds = min(5, min(counts))
    if folds < 2:
        return 1.0
    oof = np.zeros((len(y), len(classes)))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=0).split(Z, y):
        if len(set(y[tr])) < len(classes):
            return 1.0
        oof[te] = _fit_lr(Z[tr], y[tr], w[tr], C).decision_function(Z[te])
    target = np.array([classes.index(c) for c in y])

    def loss(log_t: float) -> float:
        p = _softmax(oof / np.exp(log_t))[np.arange(len(y)), target]
        return float(-(w * np.log(np.clip(p, 1e-12, 1))).sum() / w.sum())

    return float(np.exp(minimize_scalar(loss, bounds=(-3, 3), method="bounded").x))


def fit_projection(E: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of unit embeddings (no labels needed): 384 dimensions are far too many for a few
    hundred labelled units, while a handful of directions keep what distinguishes the texts."""
    k = max(1, min(k or PCA_COMPONENTS, E.shape[0] - 1, E.shape[1]))
    pca = PCA(k, random_state=0).fit(E)
    return pca.mean_.astype(np.float64), pca.components_.astype(np.float64)


def fit_model(X: np.ndarray, y: list[str], w: list[float], model_id: str, trained_on: dict[str, Any],
              projection: tuple[np.ndarray, np.ndarray], C: float | None = None) -> StatusModel | None:
    """A calibrated model, or None when some class has fewer than two examples (then the rules answer)."""
    C = C or REGULARISATION_C
    y_arr, w_arr = np.asarray(y), np.asarray(w, dtype=np.float64)
    if any((y_arr == c).sum() < 2 for c in SUGGESTED):
        return None
    model = StatusModel([], np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), 1.0, model_id, trained_on,
                        *projection)
    P = model.transform(X)
    scaler = StandardScaler().fit(P)
    Z = scaler.transform(P)
    lr = _fit_lr(Z, y_arr, w_arr, C)
    model.classes = [str(c) for c in lr.classes_]
    model.coef, model.intercept = lr.coef_.astype(np.float64), lr.intercept_.astype(np.float64)
    model.mean, model.scale = scaler.mean_.astype(np.float64), np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model.temperature = _fit_temperature(Z, y_arr, w_arr, C, model.classes)
    return model


# ------------------------------------------------------------------------------------------------------------------
# Labels: stated statuses, analyst labels, reviewers' decisions, and (only for an untrained store) strong cues
# ------------------------------------------------------------------------------------------------------------------

@dataclass
class Example:
    index: int  # into the list of UnitInput
    label: str
    weight: float
    source: str  # decision, labels, stated, cue


def suggestion_class(value: str | None) -> str | None:
    """A stated, judged or decided value as one of the three suggestion classes, or None.

    'ej påbörjad' and 'stoppad' are left out: whether a not-yet-started item is on plan or late depends on a plan
    the table cannot see (analysts read such items both ways), and a stopped item is neither late nor on plan.
    """
    status = canonical_status((value or "").replace("_", " "))
    return status if status in SUGGESTED else None


def stated_examples(inputs: list[UnitInput]) -> dict[int, Example]:
    """Stated statuses in words. A symbol (✓) is left out: its meaning was lost with the report's colours and
    icons, so what it maps to is a guess (Eskilstuna's ✓ is a year-end forecast, not a finished item)."""
    return {i: Example(i, c, WEIGHTS["stated"], "stated") for i, x in enumerate(inputs)
            if x.has_commentary and x.unit.explicit_status_source != "symbol"
            and (c := suggestion_class(x.unit.status or x.unit.explicit_status))}


def label_examples(inputs: list[UnitInput], labels: dict[str, Any] | None) -> dict[int, Example]:
    """Analyst judgements (a labels folder given to `cli.py train --labels`) matched to our units."""
    from nlp.labels import match_units

    index = {x.unit.id: i for i, x in enumerate(inputs)}
    out: dict[int, Example] = {}
    for doc, report in (labels or {}).items():
        units = [x.unit for x in inputs if x.unit.doc == doc]
        for g, u in zip(report.units, match_units(report.units, units)):
            c = suggestion_class(g.get("judged_status"))
            if u is not None and c and inputs[index[u.id]].has_commentary:
                out[index[u.id]] = Example(index[u.id], c, WEIGHTS["labels"], "labels")
    return out


def decision_examples(store: Any, inputs: list[UnitInput]) -> dict[int, Example]:
    index = {x.unit.id: i for i, x in enumerate(inputs)}
    out: dict[int, Example] = {}
    for unit_id, d in store.current_decisions("unit_status").items():
        c = suggestion_class(d.new_value) if d.action in ("accept", "correct") else None
        if c and unit_id in index and inputs[index[unit_id]].has_commentary:
            out[index[unit_id]] = Example(index[unit_id], c, WEIGHTS["decision"], "decision")
    return out


def cue_label(sentences: list[Sentence]) -> str | None:
    """The class the phrase rules give clearly (weight >= 3 and a margin of 2), else None."""
    scores = sorted(cue_scores(sentences).items(), key=lambda kv: -kv[1])
    return scores[0][0] if sentences and scores[0][1] >= 3 and scores[0][1] - scores[1][1] >= 2 else None


def cue_examples(inputs: list[UnitInput]) -> dict[int, Example]:
    """Pseudo-labels where the phrase rules are clear (from the feature cache when the sentences were not read)."""
    return {i: Example(i, c, WEIGHTS["cue"], "cue") for i, x in enumerate(inputs)
            if x.has_commentary and (c := x.cue if x.commentary is not None else cue_label(x.sentences))}


def saved_label_examples(inputs: list[UnitInput], label_units: dict[str, str] | None) -> dict[int, Example]:
    """Analyst labels a model was trained on (kept in the model file as unit id -> class), so a retrain after
    reviewers' decisions keeps them without reading the labels folder again."""
    return {i: Example(i, label_units[x.unit.id], WEIGHTS["labels"], "labels") for i, x in enumerate(inputs)
            if x.unit.id in (label_units or {}) and x.has_commentary}


def collect_examples(store: Any, inputs: list[UnitInput], labels: dict[str, Any] | None = None,
                     decisions: bool = True, cues: bool = False, label_units: dict[str, str] | None = None
                     ) -> list[Example]:
    """One example per unit; a reviewer's decision beats an analyst label, which beats the stated status."""
    merged: dict[int, Example] = {}
    sources = [cue_examples(inputs) if cues else {}, stated_examples(inputs), saved_label_examples(inputs, label_units),
               label_examples(inputs, labels), decision_examples(store, inputs) if decisions else {}]
    for found in sources:
        merged.update(found)
    return [merged[k] for k in sorted(merged)]


def provenance(examples: list[Example], inputs: list[UnitInput], labels: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """What a model was trained on: examples per source and class, the reports they came from, the labels folder."""
    return {"examples": len(examples),
            "counts": dict(sorted(_count(f"{e.source}:{e.label}" for e in examples).items())),
            "reports": dict(sorted(_count(inputs[e.index].unit.doc for e in examples).items())),
            "labels": labels}


def train_on(X: np.ndarray, examples: list[Example], model_id: str, inputs: list[UnitInput], dim: int,
             exclude_doc: str | None = None, labels_info: dict[str, Any] | None = None) -> StatusModel | None:
    """Fit on the labelled rows; the embedding projection is fitted on every unit with commentary (no labels),
    except those of `exclude_doc` (the held-out report in evaluation)."""
    rows = [e.index for e in examples]
    with_text = [i for i, x in enumerate(inputs) if x.has_commentary and x.unit.doc != exclude_doc]
    if len(with_text) < 3:
        return None
    return fit_model(X[rows], [e.label for e in examples], [e.weight for e in examples], model_id,
                     provenance(examples, inputs, labels_info), fit_projection(X[with_text, :dim]))


# ------------------------------------------------------------------------------------------------------------------
# Suggestions with evidence
# ------------------------------------------------------------------------------------------------------------------

def _evidence(contrib: np.ndarray, sentences: list[Sentence]) -> list[dict[str, Any]]:
    """The one or two sentences that weigh most for the suggested class (a second only if it weighs half as much)."""
    order = np.argsort(-contrib)
    positive = contrib[contrib > 0].sum() or 1.0
    picked = [order[0]] + [k for k in order[1:2] if contrib[k] > 0 and contrib[k] >= 0.5 * contrib[order[0]]]
    return [{"line": sentences[k].line, "text": sentences[k].text, "weight": round(float(max(contrib[k], 0) / positive), 3)}
            for k in picked]


def uncertain_note(probs: dict[str, float]) -> str:
    """'Osäker: enligt plan (48 %) eller försenad (35 %).' – the two likeliest, for a reviewer to choose from."""
    (a, pa), (b, pb) = sorted(probs.items(), key=lambda kv: -kv[1])[:2]
    return f"Osäker: {a} ({pa:.0%}) eller {b} ({pb:.0%}).".replace("%", " %")


def _note(x: UnitInput, probs: dict[str, float], rules: bool) -> str | None:
    """Why a suggestion is weak, and when it is below UNCERTAIN, the two likeliest statuses."""
    reason = NOTES[x.quality] if x.quality else NOTES["rules"] if rules else None
    if max(probs.values()) >= UNCERTAIN:
        return reason
    return " ".join(filter(None, [reason or NOTES["low"], uncertain_note(probs)]))


def _flatten_if_unreadable(probs: np.ndarray, x: UnitInput) -> np.ndarray:
    """Another language, bare numbers or the title repeated: the model cannot read it, so the probabilities move
    towards uniform (below UNCERTAIN, so the suggestion says 'osäker')."""
    if x.quality:
        return 0.25 * probs + 0.75 / len(probs)
    return probs


def embedding_dim(X: np.ndarray) -> int:
    """Width of the embedding part of a build_matrix row (the hand features follow it)."""
    return X.shape[1] - len(feature_names())


def suggestion_probs(model: StatusModel, X: np.ndarray, inputs: list[UnitInput]) -> np.ndarray:
    """The model's calibrated probabilities, flattened where the text cannot be read."""
    probs = model.proba(X) if len(X) else np.zeros((0, len(model.classes)))
    return np.array([_flatten_if_unreadable(p, x) for p, x in zip(probs, inputs)]).reshape(probs.shape)


def suggest_with_model(model: StatusModel, X: np.ndarray, inputs: list[UnitInput],
                       embed: Callable[[list[str]], np.ndarray], probs: np.ndarray | None = None
                       ) -> dict[str, dict[str, Any]]:
    """Suggestion fields per unit; `probs` (rows with commentary, in order) when already computed and adapted."""
    rows = [i for i, x in enumerate(inputs) if x.has_commentary]
    out = {x.unit.id: _empty_fields() for x in inputs if not x.has_commentary}
    if not rows:
        return out
    if probs is None:
        probs = suggestion_probs(model, X[rows], [inputs[r] for r in rows])
    # Sentence-level contributions: the same linear model applied to each sentence alone.
    sents = [(r, s) for r in rows for s in inputs[r].sentences[:MAX_SENTENCES]]
    emb = embed([s.text for _, s in sents])
    hand = np.stack([hand_features([s], "", inputs[r].ref) for r, s in sents])
    sent_logits = model.logits(np.hstack([emb, hand]))
    sent_logits -= sent_logits.mean(axis=1, keepdims=True)
    start = 0
    for k, r in enumerate(rows):
        x = inputs[r]
        n = min(len(x.sentences), MAX_SENTENCES)
        best = int(np.argmax(probs[k]))
        out[x.unit.id] = {**_fields(model.classes, x, probs[k]),
                          "status_evidence": _evidence(sent_logits[start:start + n, best], x.sentences[:n])}
        start += n
    return out


def _fields(classes: list[str] | tuple[str, ...], x: UnitInput, p: np.ndarray, rules: bool = False) -> dict[str, Any]:
    """A suggestion's fields but its evidence: the likeliest class, its probability, all of them, the note."""
    best = int(np.argmax(p))
    return {"suggested_status": classes[best], "status_confidence": round(float(p[best]), 4),
            "status_probs": {c: round(float(v), 4) for c, v in zip(classes, p)},
            "status_note": _note(x, dict(zip(classes, map(float, p))), rules=rules)}


def suggest_with_rules(inputs: list[UnitInput]) -> dict[str, dict[str, Any]]:
    """Used only when no class has enough labelled examples for a model: cue weights as soft evidence."""
    out: dict[str, dict[str, Any]] = {}
    for x in inputs:
        if not x.has_commentary:
            out[x.unit.id] = _empty_fields()
            continue
        scores = cue_scores(x.sentences)
        label = rule_suggestion(x.sentences)
        logits = np.array([scores[c] / 2 + (0.5 if c == "enligt plan" else 0.0) for c in SUGGESTED])
        p = _flatten_if_unreadable(_softmax(logits), x)
        contrib = np.array([sum(c.weight for c in cue_hits(s.text) if baseline_class(c.cls) == label)
                            for s in x.sentences[:MAX_SENTENCES]], dtype=float)
        out[x.unit.id] = {**_fields(SUGGESTED, x, p, rules=True), "suggested_status": label,
                          "status_confidence": round(float(p[SUGGESTED.index(label)]), 4),
                          "status_evidence": _evidence(contrib, x.sentences[:MAX_SENTENCES]) if contrib.any() else []}
    return out


def _empty_fields() -> dict[str, Any]:
    return {"suggested_status": None, "status_confidence": None, "status_probs": None, "status_evidence": [],
            "status_note": NOTES["empty"]}


# ------------------------------------------------------------------------------------------------------------------
# Entry points: train (cli.py train via pipeline.train.train_all) and apply (ingest, train)
# ------------------------------------------------------------------------------------------------------------------

def model_path(store: Any) -> Path:
    return Path(store.dir) / MODEL_FILE


def train_status(store: Any, labels: dict[str, Any] | None = None, decisions: bool = True,
                 embedder: Any | None = None, apply: bool = False, labels_info: dict[str, Any] | None = None
                 ) -> list[str]:
    """Retrain from the store (stated statuses, reviewers' decisions) and, when given, an analyst labels folder
    already read by nlp.labels.load_labels; save the model with what it was trained on.

    Returns report lines (Swedish, shown by `python cli.py train`).
    """
    embed = CachedEmbeddings(embedder or load_embedder(store), store)
    inputs, X = cached_matrix(store, store.units(), embed)
    examples = collect_examples(store, inputs, labels, decisions=decisions, cues=TRAIN_WITH_CUE_LABELS)
    lines = [f"status: {len(examples)} märkta poster av {len(inputs)} ("
             + ", ".join(f"{k} {v}" for k, v in sorted(_count(e.source for e in examples).items())) + ")"]
    lines.append("status: klasser " + ", ".join(f"{k} {v}" for k, v in sorted(_count(e.label for e in examples).items())))
    model = train_on(X, examples, embed.model_id, inputs, embed.dim, labels_info=labels_info) if examples else None
    if model is None:
        lines.append("status: för få märkta exempel i någon klass – förslagen kommer från frasreglerna")
        model_path(store).unlink(missing_ok=True)
    else:
        model.trained_on["label_units"] = {inputs[e.index].unit.id: e.label for e in examples if e.source == "labels"}
        model.trained_on["cues"] = TRAIN_WITH_CUE_LABELS
        model.save(model_path(store))
        lines.append(f"status: modell sparad i {model_path(store)} (temperatur {model.temperature:.2f})")
    store.set_meta(META_DECISIONS, str(decision_count(store)))
    if apply:
        n = refresh_suggestions(store, model, embed, rows=(inputs, X))
        lines.append(f"status: förslag för {n} av {len(inputs)} poster")
    return lines


def describe_model(store: Any) -> list[str]:
    """What the saved status model was trained on, in Swedish lines (shown by `cli.py train` and the app)."""
    model = StatusModel.load(model_path(store))
    if model is None:
        return ["statusmodell: ingen sparad – vid inläsning tränas en modell på databasens angivna statusar, "
                "granskarbeslut och tydliga fraser"]
    return trained_on_lines("statusmodell", model.trained_on.get("counts", {}), model.trained_on)


def trained_on_lines(name: str, counts: dict[str, int], trained_on: dict[str, Any]) -> list[str]:
    """Shared by the status and theme models: sources with counts, reports, labels folder."""
    labels = trained_on.get("labels")
    reports = trained_on.get("reports") or {}
    return [f"{name}: tränad på " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "inga exempel"),
            f"{name}: från {len(reports)} rapporter: " + ", ".join(sorted(reports)),
            f"{name}: analytikeretiketter: " + (f"{labels['folder']} (version {labels['fingerprint']}, rapporter: "
                                               f"{', '.join(labels['reports'])})" if labels else "inga")]


def apply_status(store: Any, docs: list[str] | None = None, embedder: Any | None = None) -> int:
    """Fill suggested_status, status_confidence, status_probs, status_evidence and status_note for the units of
    `docs` (all when None), and the review queue's order. Uses the saved model; without one (or one for
    another embedding model) a model is trained on the fly from the store's stated statuses, reviewers' decisions
    and clear phrase cues. Returns the number of units that got a suggestion."""
    embed = CachedEmbeddings(embedder or load_embedder(store), store)
    model = StatusModel.load(model_path(store))
    if model is None or model.model_id != embed.model_id:
        model = StatusModel.load(auto_model_path(store))
        if model is None or not _auto_model_fits(store, model, embed.model_id):
            inputs, X = cached_matrix(store, store.units(), embed)
            examples = collect_examples(store, inputs, decisions=True, cues=True)
            model = train_on(X, examples, embed.model_id, inputs, embed.dim) if examples else None
            if model is not None:
                model.trained_on[AUTO_KEY] = {"units": len(inputs), "decisions": decision_count(store)}
                model.save(auto_model_path(store))
            return refresh_suggestions(store, model, embed, docs, rows=(inputs, X))
    return refresh_suggestions(store, model, embed, docs)


# Without `cli.py train`, the model trained at ingest is kept (status_model_auto.json) and fitted again only when
# reviewers decided since or the store grew by a quarter: fitting it on every unit at every ingest made one more
# report cost more the larger the store (bench/ingest_scale.py); growth by a fixed factor keeps the total linear.
AUTO_MODEL_FILE = "status_model_auto.json"
AUTO_KEY = "trained_at_ingest"
AUTO_REFIT_GROWTH = 1.25


def auto_model_path(store: Any) -> Path:
    return Path(store.dir) / AUTO_MODEL_FILE


def _auto_model_fits(store: Any, model: StatusModel, model_id: str) -> bool:
    seen = model.trained_on.get(AUTO_KEY) or {}
    return (model.model_id == model_id and seen.get("decisions") == decision_count(store)
            and store.count("units") <= AUTO_REFIT_GROWTH * int(seen.get("units") or 0))


# ------------------------------------------------------------------------------------------------------------------
# The feature cache, and retraining after reviewers' decisions in a second or two
# ------------------------------------------------------------------------------------------------------------------

FEATURE_VERSION = 2  # raise when a feature's computation changes but its name does not


@lru_cache(maxsize=1)
def _feature_signature() -> str:
    return hashlib.sha1(json.dumps([FEATURE_VERSION, feature_names(), MAX_SENTENCES]).encode()).hexdigest()


def feature_key(unit: Unit, report: dict[str, Any] | None, model_id: str) -> str:
    """Everything a unit's feature row is computed from; the same key means the same row."""
    payload = [_feature_signature(), model_id, unit.title, unit.text, unit.title_line, unit.line_start, unit.line_end,
               unit.explicit_status, unit.explicit_status_source, report_reference_date(report)]
    return hashlib.sha1(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


def cached_matrix(store: Any, units: list[Unit], embed: CachedEmbeddings) -> tuple[list[UnitInput], np.ndarray]:
    """build_matrix's rows for `units` through the store's feature cache (rows missing from it are computed and
    kept). The inputs returned carry no sentences (gather_inputs does that where evidence is needed)."""
    reports = store.reports_by_doc()
    keys = [feature_key(u, reports.get(u.doc), embed.model_id) for u in units]
    rows = store.cached_features(sorted(set(keys)))
    missing = [u for u, k in zip(units, keys) if k not in rows]
    if missing:
        full = gather_inputs(store, missing)
        fresh = {feature_key(x.unit, reports.get(x.unit.doc), embed.model_id):
                 (row, {"commentary": x.has_commentary, "quality": x.quality, "cue": cue_label(x.sentences)})
                 for x, row in zip(full, build_matrix(full, embed))}
        if not getattr(store, "read_only", False):
            store.put_features(fresh)
        rows.update(fresh)
    inputs = [UnitInput(u, [], "", report_reference_date(reports.get(u.doc)), rows[k][1]["quality"],
                        rows[k][1]["commentary"], rows[k][1]["cue"]) for u, k in zip(units, keys)]
    X = np.stack([rows[k][0] for k in keys]).astype(np.float32) if units else np.zeros((0, 0), dtype=np.float32)
    return inputs, X


def adapted_probs(store: Any, model: StatusModel, X: np.ndarray, inputs: list[UnitInput]) -> np.ndarray:
    """Suggestion probabilities for every row, moved by reviewers' decisions on the same report and kommun."""
    probs = suggestion_probs(model, X, inputs)
    decided = {e.index: model.classes.index(e.label) for e in decision_examples(store, inputs).values()}
    if not decided:
        return probs
    reports = store.reports_by_doc()
    where = Local([x.unit.doc for x in inputs], [(reports.get(x.unit.doc) or {}).get("kommun") for x in inputs])
    return adapt_to_decisions(probs, centred(X[:, :embedding_dim(X)]), where, decided)


def review_priorities(store: Any, inputs: list[UnitInput], X: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Place in the review queue (0 first) for units a reviewer may judge: no stated status, a commentary, no
    decision yet. Decided units count as seen (see status_learning.informative_order)."""
    decided_ids = {uid for uid, d in store.current_decisions("unit_status").items() if d.action in ("accept", "correct")}
    queued = [i for i, x in enumerate(inputs) if x.unit.status is None and x.has_commentary]
    if not queued:
        return {}
    rows = np.array(queued)
    decided = [k for k, i in enumerate(queued) if inputs[i].unit.id in decided_ids]
    # At the 4 decimals units store (status_probs): the order computed later from the store (ensure_review_order)
    # is then the one computed from fresh probabilities; smaller differences only broke near-ties.
    order = informative_order(np.round(probs[rows], 4), centred(X[rows, :embedding_dim(X)]), [inputs[i].unit.doc for i in queued],
                              decided)
    return {inputs[queued[k]].unit.id: float(rank) for rank, k in enumerate(order)}


def refresh_suggestions(store: Any, model: StatusModel | None, embed: CachedEmbeddings,
                        docs: list[str] | None = None, keep_evidence: bool = False,
                        rows: tuple[list[UnitInput], np.ndarray] | None = None) -> int:
    """Write suggestions for the units of `docs` (all when None) and review priorities for all. With
    `keep_evidence`, a unit whose suggested class did not change keeps its evidence (no sentence work).
    `rows`: every unit's cached_matrix, when the caller has it.

    A new report whose kommun has no reviewer decisions gets its suggestions from its own rows alone (they depend on
    nothing else), and the review queue's order is marked stale, computed when the queue is next read
    (ensure_review_order): reading every unit at each ingest made one more report cost more the larger the store."""
    if docs is not None and rows is None and not _decisions_reach(store, docs):
        inputs, X = cached_matrix(store, [u for d in sorted(docs) for u in store.units(d)], embed)
        probs = (suggestion_probs(model, X, inputs) if model is not None
                 else np.zeros((len(inputs), len(SUGGESTED))))
        store.set_meta(REVIEW_ORDER_STALE, "1")
        fields = _write_suggestions(store, model, embed, inputs, X, probs, list(range(len(inputs))), keep_evidence)
        return sum(1 for f in fields.values() if f.get("suggested_status"))
    inputs, X = rows or cached_matrix(store, store.units(), embed)
    wanted = [i for i, x in enumerate(inputs) if docs is None or x.unit.doc in docs]
    probs = adapted_probs(store, model, X, inputs) if model is not None else np.zeros((len(inputs), len(SUGGESTED)))
    fields = _write_suggestions(store, model, embed, inputs, X, probs, wanted, keep_evidence)
    if model is None:
        probs = np.array([_rule_probs(x, fields.get(x.unit.id)) for x in inputs]).reshape(len(inputs), len(SUGGESTED))
    store.set_review_order(review_priorities(store, inputs, X, probs))
    store.set_meta(REVIEW_ORDER_STALE, "0")
    return sum(1 for i in wanted if fields[inputs[i].unit.id].get("suggested_status"))


REVIEW_ORDER_STALE = "review_order_stale"


def _write_suggestions(store: Any, model: StatusModel | None, embed: CachedEmbeddings, inputs: list[UnitInput],
                       X: np.ndarray, probs: np.ndarray, wanted: list[int], keep_evidence: bool
                       ) -> dict[str, dict[str, Any]]:
    if model is None:
        fields = suggest_with_rules(gather_inputs(store, [inputs[i].unit for i in wanted]))
    else:
        fields = _model_fields(store, model, X, inputs, probs, wanted, embed, keep_evidence)
    store.set_unit_fields(fields)
    return fields


def _decisions_reach(store: Any, docs: list[str]) -> bool:
    """Whether a reviewer's status decision sits on one of `docs` or another report of their kommuner (decisions
    move the suggestions of units there, adapted_probs)."""
    decided = [uid for uid, d in store.current_decisions("unit_status").items() if d.action in ("accept", "correct")]
    if not decided:
        return False
    decided_docs = {u.doc for u in store.units_by_id(decided)}
    kommun = {d: (store.report(d) or {}).get("kommun") for d in decided_docs | set(docs)}
    wanted = {kommun[d] for d in docs if kommun[d]}
    return any(d in docs or kommun[d] in wanted for d in decided_docs)


def ensure_review_order(store: Any, embedder_factory: Callable[[], Any] | None = None) -> None:
    """Compute the review queue's order if an ingest left it stale: from the stored suggestion probabilities and
    the cached feature rows (the embedder is loaded only if a row is missing)."""
    if store.get_meta(REVIEW_ORDER_STALE) != "1" or getattr(store, "read_only", False):
        return
    units = store.units()
    auto = StatusModel.load(auto_model_path(store))
    model_id = store.get_meta("embedding_model") or (auto.model_id if auto is not None else None)
    try:
        inputs, X = cached_matrix(store, units, CachedEmbeddings(_CacheOnly(model_id), store))
    except _NotCached:
        inputs, X = cached_matrix(store, units, CachedEmbeddings((embedder_factory or load_embedder)(), store))
    probs = np.array([_rule_probs(x, None) for x in inputs]).reshape(len(inputs), len(SUGGESTED))
    store.set_review_order(review_priorities(store, inputs, X, probs))
    store.set_meta(REVIEW_ORDER_STALE, "0")


class _NotCached(Exception):
    pass


@dataclass
class _CacheOnly:
    """An embedder for cached_matrix when every row should be in the feature cache: a missing one raises."""

    model_id: str | None
    dim: int = 0

    def embed_passages(self, texts: Any, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        raise _NotCached


def _rule_probs(x: UnitInput, fields: dict[str, Any] | None) -> list[float]:
    probs = (fields or {}).get("status_probs") or x.unit.status_probs or {}
    return [probs.get(c, 1 / len(SUGGESTED)) for c in SUGGESTED]


def _model_fields(store: Any, model: StatusModel, X: np.ndarray, inputs: list[UnitInput], probs: np.ndarray,
                  wanted: list[int], embed: CachedEmbeddings, keep_evidence: bool) -> dict[str, dict[str, Any]]:
    fields: dict[str, dict[str, Any]] = {}
    fresh = []
    for i in wanted:
        x = inputs[i]
        kept = _fields(model.classes, x, probs[i])
        if keep_evidence and x.has_commentary and x.unit.suggested_status == kept["suggested_status"] \
                and x.unit.status_evidence:
            fields[x.unit.id] = kept
        else:
            fresh.append(i)
    if fresh:
        full = gather_inputs(store, [inputs[i].unit for i in fresh])
        with_text = [k for k, x in enumerate(full) if x.has_commentary]
        fields.update(suggest_with_model(model, X[fresh], full, embed, probs[[fresh[k] for k in with_text]]))
    return fields


def retrain_status(store: Any, embedder: Any) -> list[str]:
    """What the app runs in the background after every RETRAIN_EVERY decisions: the same training as before (the
    saved model's analyst labels, kept in it, and its choice of cue labels) plus every decision so far, on the
    cached feature rows; suggestions rewritten, evidence recomputed only where the suggested class changed."""
    started = time.perf_counter()
    embed = CachedEmbeddings(embedder, store)
    inputs, X = cached_matrix(store, store.units(), embed)
    saved = StatusModel.load(model_path(store))
    trained_on = saved.trained_on if saved is not None and saved.model_id == embed.model_id else {}
    cues = bool(trained_on.get("cues", not trained_on))  # an on-the-fly model (no `cli.py train` yet) used cues
    examples = collect_examples(store, inputs, None, decisions=True, cues=cues, label_units=trained_on.get("label_units"))
    model = train_on(X, examples, embed.model_id, inputs, embed.dim, labels_info=trained_on.get("labels"))
    n_decisions = decision_count(store)
    if model is None:
        return ["status: för få märkta exempel i någon klass – modellen tränades inte om"]
    model.trained_on.update(label_units=trained_on.get("label_units") or {}, cues=cues)
    model.save(model_path(store))
    store.set_meta(META_DECISIONS, str(n_decisions))
    n = refresh_suggestions(store, model, embed, keep_evidence=True, rows=(inputs, X))
    return [f"status: omtränad på {len(examples)} exempel varav {n_decisions} granskarbeslut, förslag för {n} poster "
            f"({time.perf_counter() - started:.2f} s)"]


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out
