"""Flags for review: places where a report seems to contradict itself.

Each detector is a small pure function over one report (`ReportContext`: meta, clean lines, units) that returns
`records.Flag`s. `compute_flags(store, doc)` runs them all for one report; `apply_flags(store, docs)` stores the
result. Flags are suggestions for a reviewer, never verdicts, so every flag carries the quotes (with line numbers)
that made it fire, a score in [0, 1] and a severity derived from the score.

Flag ids are derived from kind + doc + unit ids + a normalised key (never a counter or a line number alone), so a
reviewer's decision on a flag survives re-ingest of an unchanged report and small edits elsewhere in it.

Nothing here knows any particular report: all rules are phrased over Swedish follow-up vocabulary.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from difflib import SequenceMatcher
from functools import cached_property, lru_cache
from typing import Any, Callable, Iterable

from nlp.periods import MONTHS, find_periods, month_end
from nlp.near_duplicates import MIN_SHARED_WORDS, SHINGLE, candidate_units, shingles, words as words_of
from nlp.status import Sentence, cue_matches, split_sentences
from nlp.status_vocab import CANONICAL, canonical_status, load_map, norm
from records import Flag, Unit

DONE, ON_PLAN, DELAYED, NOT_STARTED, STOPPED = CANONICAL
DEVIATING = {DELAYED, NOT_STARTED, STOPPED}

KINDS = ("status_text_conflict", "summary_conflict", "overdue", "period_mismatch", "duplicate_text",
         "count_mismatch", "internal_contradiction")

# No detector may point at more than this share of a report's units: a detector that fires everywhere tells a
# reviewer nothing, and is almost certainly misreading the layout. The strongest flags are kept.
MAX_UNIT_SHARE = 0.2
QUOTE_CHARS = 220

NUMBER_WORDS = {"en": 1, "ett": 1, "två": 2, "tre": 3, "fyra": 4, "fem": 5, "sex": 6, "sju": 7, "åtta": 8, "nio": 9,
                "tio": 10, "elva": 11, "tolv": 12, "tretton": 13, "fjorton": 14, "femton": 15, "sexton": 16,
                "sjutton": 17, "arton": 18, "nitton": 19, "tjugo": 20}
NUM = r"(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")"


def severity(score: float) -> str:
    return "hög" if score >= 0.75 else "medel" if score >= 0.5 else "låg"


def to_number(token: str) -> int | None:
    token = token.lower()
    return int(token) if token.isdigit() else NUMBER_WORDS.get(token)


def quote(text: str, match: re.Match[str] | None = None) -> str:
    """A short quote: the whole sentence when short, else a window around the match."""
    text = " ".join(text.split())
    if len(text) <= QUOTE_CHARS:
        return text
    centre = (match.start() + match.end()) // 2 if match else 0
    start = max(0, min(centre - QUOTE_CHARS // 2, len(text) - QUOTE_CHARS))
    snippet = text[start:start + QUOTE_CHARS]
    return ("…" if start else "") + snippet + ("…" if start + QUOTE_CHARS < len(text) else "")


def flag_id(kind: str, doc: str, unit_ids: Iterable[str], key: str) -> str:
    raw = "|".join([kind, doc, ",".join(sorted(unit_ids)), norm(key)])
    return "fl-" + hashlib.sha1(raw.encode("utf-8")).hexdigest()[:16]


def make_flag(kind: str, doc: str, unit_ids: list[str], line: int | None, score: float, message: str,
              evidence: list[dict[str, Any]], key: str) -> Flag:
    score = round(max(0.0, min(1.0, score)), 3)
    return Flag(id=flag_id(kind, doc, unit_ids, key), kind=kind, doc=doc, unit_ids=list(unit_ids), line=line,
                severity=severity(score), score=score, message=message, evidence=evidence)


def canon(status: str | None) -> str | None:
    """The canonical status, accepting underscores ("enligt_plan") and stated words ("Färdig")."""
    return canonical_status(status.replace("_", " ")) if status else None


def is_paused(stated_words: str | None) -> bool:
    return bool(stated_words) and bool(re.search(rf"\b(?:{load_map().words['paused']})\b", norm(stated_words)))


def is_goal_scale(u: Unit) -> bool:
    """Goals are assessed on a fulfilment scale ("Delvis uppfyllt"), items on a progress scale ("Påbörjad")."""
    return bool(re.search(r"uppfyll|önskat resultat|svara mot", (u.explicit_status or "").lower()))


# ----------------------------------------------------------------------------------------------------------------
# One report, read once
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class ReportContext:
    doc: str
    lines: dict[int, str]  # 1-based clean lines
    units: list[Unit]
    kommun: str | None = None
    namnd: str | None = None
    year: int | None = None
    period: str | None = None
    report_date: date | None = None
    other_units: list[Unit] = field(default_factory=list)  # units of other reports, for cross-report duplicates
    other_namnd: dict[str, str | None] = field(default_factory=dict)  # doc -> nämnd of those reports

    @cached_property
    def ref_date(self) -> date | None:
        """The date the report speaks from: its decision/signing date, else the end of its period."""
        if self.report_date:
            return self.report_date
        if self.year and self.period:
            month = next((m for name, m in MONTHS.items() if name in self.period.lower()), None)
            if month:
                return month_end(self.year, month)
        return None

    @cached_property
    def by_id(self) -> dict[str, Unit]:
        return {u.id: u for u in self.units}

    @cached_property
    def unit_at_line(self) -> dict[int, str]:
        """The innermost unit covering each line."""
        out: dict[int, str] = {}
        for u in sorted(self.units, key=lambda u: -(u.line_end - u.line_start)):
            for ln in range(u.line_start, u.line_end + 1):
                out[ln] = u.id
        return out

    @cached_property
    def own_lines(self) -> dict[str, list[int]]:
        """A unit's lines without the lines of units nested inside it (a goal's range covers its uppdrag)."""
        owner = self.unit_at_line
        out: dict[str, list[int]] = defaultdict(list)
        for ln, uid in owner.items():
            out[uid].append(ln)
        return {uid: sorted(v) for uid, v in out.items()}

    @cached_property
    def _commentary_cache(self) -> dict[str, list[Sentence]]:
        return {}

    def commentary(self, u: Unit) -> list[Sentence]:
        """Sentences of a unit's own commentary: the title, its table cells and the status line left out."""
        if u.id not in self._commentary_cache:
            self._commentary_cache[u.id] = self._commentary(u)
        return self._commentary_cache[u.id]

    def _commentary(self, u: Unit) -> list[Sentence]:
        pieces: list[tuple[int, str]] = []
        title_line = u.title_line or u.line_start
        for ln in self.own_lines.get(u.id, []):
            text = self.lines.get(ln, "")
            if ln == u.explicit_status_line and len(text) < 60:
                continue
            if ln == title_line or is_title_cell_line(text, u.title):
                text = "\t".join(c for c in text.split("\t") if not is_title_or_field_cell(c, u))
            if re.fullmatch(r"\s*(status|bedömning|kommentar:?|resultat:?|utvärdering:?)\s*", text, re.I):
                continue
            pieces.append((ln, re.sub(r"^\s*(kommentar|resultat|utvärdering|uppföljning)\s*:\s*", "", text,
                                      flags=re.I)))
        return line_sentences(pieces)

    @cached_property
    def sentences(self) -> list[Sentence]:
        return line_sentences(sorted(self.lines.items()))

    def unit_of_line(self, line: int) -> str | None:
        return self.unit_at_line.get(line)

    def ancestors(self, u: Unit) -> set[str]:
        out: set[str] = set()
        cur = u
        while cur.parent_id and cur.parent_id not in out and cur.parent_id in self.by_id:
            out.add(cur.parent_id)
            cur = self.by_id[cur.parent_id]
        # A range that contains this unit's range is an ancestor too, whatever parent_id says.
        out |= {o.id for o in self.units if o.id != u.id and o.line_start <= u.line_start and o.line_end >= u.line_end
                and (o.line_end - o.line_start) > (u.line_end - u.line_start)}
        return out


def line_sentences(pieces: list[tuple[int, str]]) -> list[Sentence]:
    """Sentences line by line: a flag must point at the line that says it, even where a paragraph is wrapped."""
    return [s for ln, text in pieces for s in split_sentences([(ln, text)])]


def is_title_cell_line(text: str, title: str) -> bool:
    return bool(title) and norm(title)[:40] in norm(text)


def is_title_or_field_cell(cell: str, u: Unit) -> bool:
    """A table cell that is the item's title, a date or its status word, not commentary."""
    c = norm(cell)
    if not c:
        return True
    t = norm(u.title)
    if c == t or (len(c) >= 12 and (c in t or t.startswith(c))) or SequenceMatcher(None, c[:120], t[:120]).ratio() > 0.85:
        return True
    if re.fullmatch(r"\d{4} \d{2} \d{2}", c):
        return True
    return bool(u.explicit_status) and c == norm(u.explicit_status)


def stated(u: Unit) -> str | None:
    return canon(u.status) if u.status else (canon(u.explicit_status) if u.explicit_status else None)


# ----------------------------------------------------------------------------------------------------------------
# Progress cues: what a sentence says about the state of the work
# ----------------------------------------------------------------------------------------------------------------

# What a sentence says about the state of the work comes from the shared cue vocabulary (nlp/status_cues.toml),
# grouped by kind: done, ongoing, delayed, not_started, stopped, planned, negative, positive.
# Evidence that work has begun at all (against a stated "ej påbörjad"): ongoing, done, delayed or paused work.
STARTED_KINDS = ("ongoing", "done", "delayed")


@dataclass
class CueHit:
    kind: str
    sentence: Sentence
    match: re.Match[str]

    def evidence(self) -> dict[str, Any]:
        return {"line": self.sentence.line, "quote": quote(self.sentence.text, self.match)}


def cue_hits(sentences: list[Sentence]) -> dict[str, list[CueHit]]:
    """Cue hits of the sentences by kind (each cue once per sentence); "started" collects every sign of begun work."""
    out: dict[str, list[CueHit]] = defaultdict(list)
    for s in sentences:
        for cue, m in cue_matches(s.text):
            out[cue.kind].append(CueHit(cue.kind, s, m))
            if cue.kind in STARTED_KINDS:
                out["started"].append(CueHit("started", s, m))
    return out


# stated status -> [(cue kind, weight, message tail)]; the first present cue with the highest weight wins.
CONFLICTS: dict[str, list[tuple[str, float, str]]] = {
    DONE: [("not_started", 0.9, "texten säger att arbetet inte har påbörjats"),
           ("delayed", 0.8, "texten säger att arbetet är försenat"),
           ("ongoing", 0.75, "texten säger att arbetet pågår"),
           ("planned", 0.7, "texten beskriver arbete som återstår")],
    ON_PLAN: [("not_started", 0.8, "texten säger att arbetet inte har påbörjats"),
              ("stopped", 0.75, "texten säger att arbetet har stoppats"),
              ("delayed", 0.7, "texten säger att arbetet är försenat")],
    NOT_STARTED: [("ongoing", 0.85, "texten säger att arbete pågår"),
                  ("done", 0.8, "texten säger att arbete har genomförts"),
                  ("started", 0.7, "texten tyder på att arbetet har påbörjats")],
    STOPPED: [("ongoing", 0.7, "texten säger att arbete pågår")],
}
# A stated status that says nothing is being done right now ("Väntar", "Vilande", "Pausad"): ongoing work in the
# text contradicts it too.
PAUSED_CONFLICTS = [("ongoing", 0.6, "texten beskriver pågående arbete"),
                    ("done", 0.6, "texten säger att arbete har genomförts")]


def is_forecast_status(ctx: ReportContext) -> bool:
    """Some reports state the status each item is expected to have at year end, so 'pågår' is no contradiction."""
    pat = re.compile(r"\bstatus\b.{0,60}\b(vid årsskiftet|vid årets slut|vid helår|bedöms ha vid)", re.I)
    return any(pat.search(t) for t in ctx.lines.values() if t)


# ----------------------------------------------------------------------------------------------------------------
# Detector: stated status against what the text says
# ----------------------------------------------------------------------------------------------------------------

def status_text_conflict(ctx: ReportContext) -> list[Flag]:
    """Stated status vs the text: phrase cues in the commentary, and the classifier's out-of-sample probabilities.

    The score ranks how confidently the text disagrees: a clear cue plus a classifier that agrees scores highest.
    """
    forecast = is_forecast_status(ctx)
    flags = []
    for u in ctx.units:
        st = stated(u)
        if st is None or u.explicit_status_source == "summary":
            continue  # a status only a summary gives is summary_conflict's business
        sents = ctx.commentary(u)
        hits = cue_hits(sents)
        cue_score, tail, ev = conflict_from_cues(u, st, hits, forecast)
        disagree, best = classifier_disagreement(u, st)
        if cue_score > 0:
            score = cue_score if disagree is None else 0.65 * cue_score + 0.35 * max(disagree, cue_score - 0.2)
        elif disagree is not None and disagree >= 0.85 and not is_goal_scale(u):
            score, tail = 0.55 * disagree, f"textens innehåll liknar status \"{best}\""
            ev = [e for e in (u.status_evidence or []) if isinstance(e, dict) and e.get("line")][:2]
        else:
            continue
        if is_goal_scale(u):
            score *= 0.8  # fulfilment of a goal is a judgement over many activities; one sentence weighs less
        label = u.explicit_status or st
        flags.append(make_flag("status_text_conflict", ctx.doc, [u.id], u.explicit_status_line or u.title_line
                               or u.line_start, score, f"Status \"{short(label)}\" men {tail}", ev, key=st))
    return flags


def conflict_from_cues(u: Unit, st: str, hits: dict[str, list[CueHit]], forecast: bool
                       ) -> tuple[float, str, list[dict[str, Any]]]:
    rules = CONFLICTS.get(st)
    if st == DELAYED and is_paused(u.explicit_status):
        rules = PAUSED_CONFLICTS
    elif st in (DONE, ON_PLAN) and is_goal_scale(u):
        # A goal judged (largely) met while its own justification reports a shortfall.
        rules = (rules or []) + [("negative", 0.65, "motiveringen redovisar ett negativt utfall")]
    if not rules:
        return 0.0, "", []
    best = (0.0, "", [])
    for kind, weight, tail in rules:
        found = hits.get(kind, [])
        if not found:
            continue
        w = weight
        if st == DONE and kind in ("ongoing", "planned") and forecast:
            w *= 0.4  # a year-end forecast of "klart" is compatible with work still running
        if st == DONE and hits.get("done"):
            w *= 0.75  # the text also says something is finished: weaker contradiction
        if st == NOT_STARTED and hits.get("not_started"):
            w *= 0.75  # "not started, but some work has been done": still worth a look, less sure
        if st == DONE and kind == "planned" and (hits.get("ongoing") or hits.get("not_started")):
            continue
        w = min(1.0, w + 0.05 * (len(found) - 1))
        if w > best[0]:
            best = (w, tail, [h.evidence() for h in found[:2]])
    if st == ON_PLAN and not is_goal_scale(u) and best[0] == 0.0:
        fut = hits.get("planned", [])
        if fut and not hits.get("ongoing") and not hits.get("done") and not hits.get("started"):
            best = (0.6, "texten beskriver bara planerat, inte påbörjat arbete", [h.evidence() for h in fut[:2]])
    return best


def classifier_disagreement(u: Unit, st: str) -> tuple[float | None, str | None]:
    """1 - P(stated status) from the status classifier, when it gives one for the stated class."""
    probs = u.status_probs or {}
    probs = {canon(k) or k: float(v) for k, v in probs.items()}
    if st not in probs:
        return None, None
    best = max(probs, key=probs.get)
    return 1.0 - probs[st], best


def short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1] + "…"


# ----------------------------------------------------------------------------------------------------------------
# Detector: end dates before the report date
# ----------------------------------------------------------------------------------------------------------------

ISO_DATE = re.compile(r"\b(20\d\d)-(\d\d)-(\d\d)\b")
# What announces a deadline; the time phrase after it (any form nlp/periods.py reads: "2024-03-01", "mars 2024",
# "v. 34 2024", "Q3 2024", "HT 2024") gives its last day.
DEADLINE = re.compile(
    r"\b(slutdatum|senast|ska (?:vara )?(?:klar|klart|färdig|färdigt|genomförd|genomfört|slutförd|slutfört|infört|"
    r"införd)|(?:vara|bli|blir) (?:klar|klart|färdig|färdigt))\b\s*:?\s*", re.I)
DEADLINE_LEAD = re.compile(r"(?:den |i |under |till |vid |före |innan |senast )*", re.I)
BARE_YEAR = re.compile(r"(20\d\d)(?![\d-])")
TITLE_YEAR = re.compile(r"\((20\d\d)\)")


def parse_iso(m: re.Match[str]) -> date | None:
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def unit_dates(ctx: ReportContext, u: Unit) -> tuple[date | None, date | None, int | None, str]:
    """(start, end, line, quote) from a table row with start and end dates, a deadline phrase, or '(2023)' in the
    title."""
    title_line = u.title_line or u.line_start
    row = ctx.lines.get(title_line, "")
    dates = [d for d in (parse_iso(m) for m in ISO_DATE.finditer(row)) if d]
    if len(dates) >= 2:
        return min(dates), max(dates), title_line, row
    for ln in ctx.own_lines.get(u.id, [])[:12]:
        text = ctx.lines.get(ln, "")
        found = deadline_in(text)
        if found:
            return None, found[0], ln, quote(text, found[1])
    m = TITLE_YEAR.search(u.title)
    if m:
        return None, date(int(m.group(1)), 12, 31), title_line, u.title
    return None, None, None, ""


def deadline_in(text: str) -> tuple[date, re.Match[str]] | None:
    """The last day of the first deadline in `text` that names its year ("ska vara klart senast v. 34 2024"). A
    phrase without a year is left alone: "klart i mars" may mean next March."""
    for m in DEADLINE.finditer(text):
        lead = DEADLINE_LEAD.match(text, m.end())
        rest = text[lead.end():lead.end() + 40]
        first = (find_periods(rest) or [None])[0]
        if first is not None and first.at == 0 and first.explicit_year:
            return first.end, m
        bare = BARE_YEAR.match(rest)
        if bare:
            return date(int(bare.group(1)), 12, 31), m
    return None


def overdue(ctx: ReportContext) -> list[Flag]:
    """An end date before the report date while the status is not done; a start date long passed with nothing
    started; a year in the title that the text says will be missed."""
    ref = ctx.ref_date
    flags = []
    for u in ctx.units:
        st = stated(u)
        start, end, line, q = unit_dates(ctx, u)
        if end is None and start is None:
            continue
        hits = cue_hits(ctx.commentary(u))
        ev = [{"line": line, "quote": quote(q)}]
        label = u.explicit_status or st or "saknas"
        if ref and end and end < ref and st not in (DONE, STOPPED) and not hits.get("done"):
            days = (ref - end).days
            base = {NOT_STARTED: 0.8, ON_PLAN: 0.65, DELAYED: 0.35, None: 0.45}.get(st, 0.45)
            score = base + min(0.15, days / 3650)
            flags.append(make_flag("overdue", ctx.doc, [u.id], line, score,
                                   f"Slutdatum {end.isoformat()} har passerat (rapporten avser {ref.isoformat()}) "
                                   f"men status är \"{short(label)}\"", ev, key=f"end {end.isoformat()}"))
        elif ref and start and st == NOT_STARTED and (ref - start).days >= 365:
            years = (ref - start).days / 365.25
            score = 0.55 + min(0.25, 0.04 * years)
            flags.append(make_flag("overdue", ctx.doc, [u.id], line, score,
                                   f"Startdatum {start.isoformat()} passerades för {years:.0f} år sedan men status "
                                   f"är \"{short(label)}\"", ev, key=f"start {start.isoformat()}"))
        elif end and st in (DONE, ON_PLAN) and hits.get("delayed"):
            later = [h for h in hits["delayed"] if any(int(y) > end.year for y in re.findall(r"\b(20\d\d)\b",
                                                                                             h.sentence.text))]
            if later:
                flags.append(make_flag("overdue", ctx.doc, [u.id], line, 0.7,
                                       f"Posten gäller {end.year} men texten flyttar arbetet till ett senare år; "
                                       f"status är \"{short(label)}\"", ev + [later[0].evidence()],
                                       key=f"postponed {end.year}"))
    return flags


# ----------------------------------------------------------------------------------------------------------------
# Detector: years, periods and nämnd names that do not fit the report
# ----------------------------------------------------------------------------------------------------------------

# A forecast ("prognos", "helårsprognos", "förväntat utfall", "utfall för/vid helåret") followed by the year it is for.
PROGNOSIS_YEAR = re.compile(
    r"\b(\w*prognos\w*|(?:förväntat |beräknat )?utfall\w* (?:för|vid|i slutet av|per) (?:hel)?år\w*)\b"
    r"[^.\t]{0,60}?\b(20\d\d)\b", re.I)
SEASON_YEAR = re.compile(r"\b(under|i|till|inför|efter) (hösten|våren|sommaren|vintern|början av|slutet av|mitten av)"
                         r" (20\d\d)\b", re.I)
PAST_MARKER = re.compile(r"\b(har|hade|var|blev|gjordes|\w{3,}(ades|des|tes|dde))\b", re.I)
TARGET_YEAR = re.compile(r"\b(målbild(en)?|vision(en)?)\b\s*\*?([A-ZÅÄÖ][\wåäö\- ]{0,40}?)?\s*(20\d\d)\b", re.I)
NAMND_WORD = re.compile(r"\b([a-zåäö\-]{3,}nämnd)(en|ens)?\b", re.I)
# A report's own governing documents ascribed to a nämnd: "den verksamhetsplan som X-nämnden har fastställt". When
# X is another nämnd than the report's, the paragraph was most likely copied from that nämnd's report.
OWN_DOCUMENT = (r"\w*(?:plan|program|budget|mål|uppföljning|rapport|bokslut)\w*")
SELF_REFERENCE = re.compile(
    r"\b(" + OWN_DOCUMENT + r") som ([a-zåäö\-]{3,}nämnd)(en)? (har )?(upprättat|fastställt|beslutat|antagit|"
    r"tagit fram|godkänt|beslutat om)\b", re.I)


def period_mismatch(ctx: ReportContext) -> list[Flag]:
    flags: list[Flag] = []
    if ctx.year:
        flags += _prognosis_years(ctx) + _past_plans(ctx)
    flags += _target_years(ctx) + _foreign_namnd(ctx) + _short_periods(ctx) + _starts_after_report(ctx)
    return flags


# The item itself starting at a time: "Arbetet påbörjas v. 40", "Projektet med X kommer att starta Q4 2024".
ITEM_SUBJECT = (r"(?:arbetet|uppdraget|projektet|åtgärden|insatsen|aktiviteten|genomförandet|implementeringen|"
                r"införandet|satsningen)")
ITEM_STARTS = re.compile(
    r"\b" + ITEM_SUBJECT + r"(?:\s+med\s+[\wåäö\-]+(?:\s+[\wåäö\-]+)?)?\s+(?:kommer\s+att\s+|planeras\s+(?:att\s+)?|"
    r"beräknas\s+|ska\s+)?(?:starta|startar|startas|påbörjas|inleds|inledas|börja|börjar)\b", re.I)
STARTED_WORDS = ("pågå", "påbörja", "startad", "igång")  # a stated status saying work is under way


def _starts_after_report(ctx: ReportContext) -> list[Flag]:
    """A status saying the work is under way or done while the commentary says it starts after the report's date
    ("Pågår" over "Arbetet påbörjas v. 40" in a report of 20 September)."""
    ref = ctx.ref_date
    if ref is None:
        return []
    flags = []
    for u in ctx.units:
        word = norm(u.explicit_status or "")
        if not (stated(u) == DONE or any(w in word for w in STARTED_WORDS)):
            continue
        for s in ctx.commentary(u):
            m = ITEM_STARTS.search(s.text)
            if not m or NEGATION.search(s.text[max(0, m.start() - 12):m.end()]):
                continue
            when = next((p for p in find_periods(s.text[m.end():m.end() + 60], ctx.year) if p.at <= 25), None)
            if when is None or when.start <= ref:
                continue
            flags.append(make_flag(
                "period_mismatch", ctx.doc, [u.id], s.line, 0.6,
                f"Status är \"{short(u.explicit_status or stated(u) or '')}\" men texten säger att arbetet börjar "
                f"{when.text} ({when.start.isoformat()}), efter rapportens datum {ref.isoformat()}",
                [{"line": s.line, "quote": quote(s.text, m)}], key=f"starts {when.text}"))
            break
    return flags


MONTH_RANGE = re.compile(r"\b(?:perioden |under )?(januari|jan)\s*(?:-|–|till(?: och med)?)\s*(" + "|".join(MONTHS)
                         + r"|jun|jul|aug|sep|okt|nov|dec)\b", re.I)
FIRST_MONTHS = re.compile(r"\b(?:årets |de )?" + NUM + r" första månader(?:na)?\b", re.I)


def report_month(ctx: ReportContext) -> int | None:
    """The last month the report covers ('per augusti', 'jan–aug'), from its period, else its reference date."""
    if ctx.period:
        found = [m for name, m in MONTHS.items() if re.search(rf"\b{name[:3]}", ctx.period.lower())]
        if found:
            return max(found)
    return ctx.ref_date.month if ctx.ref_date and not ctx.report_date else None


def _short_periods(ctx: ReportContext) -> list[Flag]:
    """An item's commentary that reports a shorter period ('januari–juli', 'årets sex första månader') than the
    report covers ('per augusti'). Often a figure carried over from an earlier month: worth a look, no more."""
    month = report_month(ctx)
    if not month:
        return []
    flags = []
    for s in ctx.sentences:
        uid = ctx.unit_of_line(s.line)
        if not uid or not _is_prose(s.text):
            continue
        for m in list(MONTH_RANGE.finditer(s.text)) + list(FIRST_MONTHS.finditer(s.text)):
            last = (next((v for k, v in MONTHS.items() if k.startswith(m.group(2).lower()[:3])), None)
                    if m.re is MONTH_RANGE else to_number(m.group(1)))
            if last is None or not (month - 3 <= last < month):
                continue
            flags.append(make_flag(
                "period_mismatch", ctx.doc, [uid], s.line, 0.42,
                f"Texten redovisar perioden \"{m.group(0).strip()}\" men rapporten avser perioden till och med "
                f"{[k for k, v in MONTHS.items() if v == month][0]}",
                [{"line": s.line, "quote": quote(s.text, m)}], key=f"period {m.group(0)}"))
            break
    return flags


def _is_prose(text: str) -> bool:
    return "\t" not in text and len(text.split()) >= 6


def _prognosis_years(ctx: ReportContext) -> list[Flag]:
    flags = []
    for s in ctx.sentences:
        if not _is_prose(s.text):
            continue
        for m in PROGNOSIS_YEAR.finditer(s.text):
            y = int(m.group(2))
            if ctx.year - 3 <= y < ctx.year:
                uid = ctx.unit_of_line(s.line)
                flags.append(make_flag(
                    "period_mismatch", ctx.doc, [uid] if uid else [], s.line, 0.8,
                    f"Prognosen avser {y} men rapporten gäller {ctx.year}",
                    [{"line": s.line, "quote": quote(s.text, m)}], key=f"prognos {y} {s.text[:80]}"))
    return flags


def _past_plans(ctx: ReportContext) -> list[Flag]:
    """Something planned for a season of an earlier year ("Uppföljning under hösten 2022") in a later report."""
    flags = []
    for s in ctx.sentences:
        if PROGNOSIS_YEAR.search(s.text):
            continue  # a prognosis for another year is _prognosis_years' flag
        for m in SEASON_YEAR.finditer(s.text):
            y = int(m.group(3))
            if not (ctx.year - 3 <= y < ctx.year):
                continue
            future = next((m for cue, m in cue_matches(s.text) if cue.kind == "planned"), None)
            if PAST_MARKER.search(s.text) and not future:
                continue
            uid = ctx.unit_of_line(s.line)
            flags.append(make_flag(
                "period_mismatch", ctx.doc, [uid] if uid else [], s.line, 0.7 if future else 0.6,
                f"Texten talar om {m.group(2).lower()} {y} som något som ska ske, men rapporten gäller {ctx.year}; "
                "kommentaren kan vara kvar från en tidigare rapport",
                [{"line": s.line, "quote": quote(s.text, m)}], key=f"season {y} {s.text[:80]}"))
    return flags


def _target_years(ctx: ReportContext) -> list[Flag]:
    """The same målbild/vision named with different years; the rarer year is the suspicious one."""
    seen: dict[str, list[tuple[int, Sentence, re.Match[str]]]] = defaultdict(list)
    for s in ctx.sentences:
        for m in TARGET_YEAR.finditer(s.text):
            seen[re.sub(r"en$", "", m.group(1).lower())].append((int(m.group(5)), s, m))
    flags = []
    for head, found in seen.items():
        counts = Counter(y for y, _, _ in found)
        if len(counts) < 2:
            continue
        common = counts.most_common(1)[0][0]
        for y, s, m in found:
            if y != common and counts[y] < counts[common]:
                uid = ctx.unit_of_line(s.line)
                flags.append(make_flag(
                    "period_mismatch", ctx.doc, [uid] if uid else [], s.line, 0.6,
                    f"\"{head.capitalize()} {y}\" men rapporten talar annars om {head} {common}",
                    [{"line": s.line, "quote": quote(s.text, m)}], key=f"target {head} {y}"))
    return flags


def own_namnd_stems(ctx: ReportContext) -> set[str]:
    """'Kultur- och fritidsnämnden' -> {'kultur- och fritidsnämnd', 'fritidsnämnd'}: any tail names us."""
    out: set[str] = set()
    if ctx.namnd:
        for m in NAMND_WORD.finditer(ctx.namnd):
            out.add(m.group(1).lower())
    if not out:  # no metadata: the nämnd the report names most often is itself
        counts = Counter(m.group(1).lower() for t in ctx.lines.values() for m in NAMND_WORD.finditer(t or ""))
        if counts:
            out.add(counts.most_common(1)[0][0])
    return out


def _foreign_namnd(ctx: ReportContext) -> list[Flag]:
    own = own_namnd_stems(ctx)
    if not own:
        return []
    flags = []
    for s in ctx.sentences:
        for m in SELF_REFERENCE.finditer(s.text):
            other = m.group(2).lower()
            if other in own or other == "nämnd":
                continue
            uid = ctx.unit_of_line(s.line)
            flags.append(make_flag(
                "period_mismatch", ctx.doc, [uid] if uid else [], s.line, 0.7,
                f"Texten säger att {m.group(1).lower()} är upprättad av {m.group(2).lower()}{m.group(3) or ''}, "
                f"men rapporten gäller {ctx.namnd or next(iter(own))}",
                [{"line": s.line, "quote": quote(s.text, m)}], key=f"namnd {other}"))
    return flags


# ----------------------------------------------------------------------------------------------------------------
# Detector: the same commentary under different items
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class Commentary:
    unit: Unit
    sentences: list[Sentence]
    words: list[str]
    grams: set[tuple[str, ...]]


def commentaries(ctx: ReportContext) -> list[Commentary]:
    out = []
    for u in ctx.units:
        sents = ctx.commentary(u)
        words = words_of(" ".join(s.text for s in sents))
        if len(words) >= MIN_SHARED_WORDS:
            out.append(Commentary(u, sents, words, shingles(words)))
    return out


def titles_alike(a: str, b: str) -> bool:
    na, nb = _core(a), _core(b)
    if not na or not nb or set(re.findall(r"\d+", na)) != set(re.findall(r"\d+", nb)):
        return False
    if na in nb or nb in na:
        return True
    sm = SequenceMatcher(None, na[:100], nb[:100], autojunk=False)
    return sm.real_quick_ratio() >= 0.75 and sm.quick_ratio() >= 0.75 and sm.ratio() >= 0.75


def _core(title: str) -> str:
    t = norm(title)
    t = re.sub(r"^(uppdrag|åtgärd|nämndmål|mål|fokusmål|inriktningsmål|åtagande|ks beslut)?\s*\d+(\s\d+)*\s*", "", t)
    return t


def related(ctx: ReportContext, a: Unit, b: Unit) -> bool:
    """The same item followed up twice, or one item inside the other: repeating the text is expected there."""
    if a.linked_unit_id == b.id or b.linked_unit_id == a.id or titles_alike(a.title, b.title):
        return True
    if a.id in ctx.ancestors(b) or b.id in ctx.ancestors(a):
        return True
    # A child placed under another copy of this item (an åtgärd table headed by the uppdrag it belongs to).
    return any(titles_alike(x.parent or "", y.title) for x, y in ((a, b), (b, a)) if x.parent)


def overlap(a: Commentary, b: Commentary) -> tuple[float, int]:
    shared = len(a.grams & b.grams)
    smaller = max(1, min(len(a.grams), len(b.grams)))
    return shared / smaller, shared


def shared_evidence(a: Commentary, b: Commentary) -> list[dict[str, Any]]:
    """The first sentence of each side that carries the shared text."""
    ev = []
    for c, other in ((a, b), (b, a)):
        for s in c.sentences:
            g = shingles(words_of(s.text))
            if g and len(g & other.grams) >= max(1, len(g) // 2):
                ev.append({"line": s.line, "quote": quote(s.text)})
                break
    return ev


def paragraph_overlap(a: Commentary, b: Commentary, min_words: int = 20) -> tuple[float, list[dict[str, Any]]]:
    """The best match between one paragraph (line) of each side: shared word 4-grams over the smaller paragraph."""
    def paragraphs(c: Commentary) -> list[tuple[int, str, set[tuple[str, ...]]]]:
        by_line: dict[int, list[str]] = defaultdict(list)
        for s in c.sentences:
            by_line[s.line].append(s.text)
        out = []
        for ln, texts in by_line.items():
            words = words_of(" ".join(texts))
            if len(words) >= min_words:
                out.append((ln, " ".join(texts), shingles(words)))
        return out

    scored = []
    pb = paragraphs(b)
    for la, ta, ga in paragraphs(a):
        for lb, tb, gb in pb:
            r = len(ga & gb) / max(1, min(len(ga), len(gb)))
            scored.append((r, [{"line": la, "quote": quote(ta)}, {"line": lb, "quote": quote(tb)}]))
    scored.sort(key=lambda x: -x[0])
    if not scored:
        return 0.0, []
    # The best pair, and the runner-up when it is nearly as close (a reviewer wants to see all shared passages).
    ev = scored[0][1] + [e for r, pair in scored[1:2] if r >= 0.6 for e in pair]
    return scored[0][0], ev


def duplicate_text(ctx: ReportContext) -> list[Flag]:
    """Near-identical commentary under different items of one report.

    * Unrelated items of the same level with (nearly) the same commentary: a copied commentary, one of them
      probably belongs elsewhere. Text shared by three or more items of a level is boilerplate and left alone.
    * Two items assessed on the same scale with *different* stated statuses whose justifications share a paragraph
      almost word for word: the same reasoning, two conclusions (also between a goal and its sub-goal).
    A goal's narrative repeating its own uppdrag's text, or one item followed up twice, is expected and not flagged.
    """
    items = commentaries(ctx)
    candidates = []
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            whole, shared = overlap(a, b)
            sa, sb = stated(a.unit), stated(b.unit)
            verdicts_differ = bool(sa and sb and sa != sb and is_goal_scale(a.unit) == is_goal_scale(b.unit))
            if whole < 0.5 and not (verdicts_differ and shared >= 8):
                continue  # neither a copied commentary nor a shared paragraph is possible
            if a.unit.linked_unit_id == b.unit.id or b.unit.linked_unit_id == a.unit.id \
                    or titles_alike(a.unit.title, b.unit.title):
                continue
            candidates.append((a, b, whole, shared))
    degree = Counter(x.unit.id for a, b, r, n in candidates
                     if r >= 0.8 and n >= MIN_SHARED_WORDS and a.unit.level == b.unit.level for x in (a, b))
    flags = []
    for a, b, whole, shared in candidates:
        ua, ub = a.unit, b.unit
        family = related(ctx, ua, ub)
        if (not family and ua.level == ub.level and whole >= 0.5 and shared >= MIN_SHARED_WORDS - SHINGLE + 1
                and not (whole >= 0.8 and degree[ua.id] >= 2 and degree[ub.id] >= 2)):
            flags.append(make_flag(
                "duplicate_text", ctx.doc, [ua.id, ub.id], b.sentences[0].line if b.sentences else ub.line_start,
                0.55 + 0.35 * whole,
                f"Kommentaren under \"{short(ub.title)}\" är {'nästan ' if whole < 0.95 else ''}densamma som "
                f"under \"{short(ua.title)}\"", shared_evidence(a, b), key="dup"))
            continue
        sa, sb = stated(ua), stated(ub)
        if not (sa and sb and sa != sb and is_goal_scale(ua) == is_goal_scale(ub)):
            continue
        para, ev = paragraph_overlap(a, b)
        if para >= 0.6:
            flags.append(make_flag(
                "duplicate_text", ctx.doc, [ua.id, ub.id], ev[1]["line"], 0.45 + 0.35 * para,
                f"Nästan samma motivering under \"{short(ua.title)}\" ({ua.explicit_status or sa}) och "
                f"\"{short(ub.title)}\" ({ub.explicit_status or sb}), men olika bedömning", ev, key="same reasoning"))
    return flags


def cross_report_duplicates(ctx: ReportContext) -> list[Flag]:
    """For information: commentary shared word for word with another nämnd's report, one flag per other report."""
    if not ctx.other_units:
        return []
    own = commentaries(ctx)
    flags = []
    by_doc: dict[str, list[Unit]] = defaultdict(list)
    for u in ctx.other_units:
        by_doc[u.doc].append(u)
    for doc, units in sorted(by_doc.items()):
        if ctx.other_namnd.get(doc) and ctx.namnd and ctx.other_namnd[doc] == ctx.namnd:
            continue  # the same nämnd another year: repetition is expected
        others = [Commentary(u, [], w, shingles(w)) for u in units
                  if len(w := words_of(u.text or "")) >= MIN_SHARED_WORDS]
        matched = []
        for c in own:
            best = max((overlap(c, o)[0] for o in others), default=0.0)
            if best >= 0.9:
                matched.append(c)
        if not matched:
            continue
        first = min(matched, key=lambda c: c.unit.line_start)
        line = first.sentences[0].line if first.sentences else first.unit.line_start
        flags.append(make_flag(
            "duplicate_text", ctx.doc, [], line, 0.3,
            f"{len(matched)} kommentarer återkommer ordagrant i {ctx.other_namnd.get(doc) or doc} ({doc}); "
            "kontrollera att texten gäller denna nämnd",
            [{"line": s.line, "quote": quote(s.text)} for c in matched[:3]
             for s in [max(c.sentences, key=lambda x: len(x.text))] if c.sentences],
            key=f"cross {doc}"))
    return flags


# ----------------------------------------------------------------------------------------------------------------
# Detectors: stated counts and summaries against the items
# ----------------------------------------------------------------------------------------------------------------

COUNT_NOUNS = {
    "åtgärder": ("åtgärd",), "åtgärd": ("åtgärd",),
    "uppdrag": ("uppdrag", "särskilt uppdrag", "uppdrag från nämnd"),
    "åtaganden": ("åtagande",), "åtagande": ("åtagande",),
    "nämndmål": ("nämndmål",), "inriktningsmål": ("inriktningsmål",), "fokusmål": ("inriktningsmål", "fokusmål"),
}
COUNT_PHRASE = re.compile(
    r"(?<![\d,.\-–])\b" + NUM + r"\s+(?:(?:[\wåäö\-]+a|nya|egna|övriga|tilldelade)\s+)?(" + "|".join(COUNT_NOUNS)
    + r")\b(?!\s+\d)", re.I)
COUNT_CONTEXT = re.compile(r"\b(arbetar|totalt|omfattar|består av|innehåller|har|samt|med)\b", re.I)


def distinct_units(units: list[Unit], levels: tuple[str, ...]) -> list[Unit]:
    """Units of these levels, an item followed up twice counted once."""
    chosen = [u for u in units if u.level in levels]
    out: list[Unit] = []
    for u in chosen:
        if u.linked_unit_id and any(o.id == u.linked_unit_id for o in out):
            continue
        if any(titles_alike(o.title, u.title) for o in out):
            continue
        out.append(u)
    return out


def count_mismatch(ctx: ReportContext) -> list[Flag]:
    """'51 åtgärder' announced, 49 reported. One flag per (noun, number), with every place the number is stated."""
    claims: dict[tuple[str, int], list[tuple[Sentence, re.Match[str]]]] = defaultdict(list)
    for s in ctx.sentences:
        if not _is_prose(s.text) or not COUNT_CONTEXT.search(s.text) or re.search(r"\bav\s+" + NUM + r"\b", s.text):
            continue
        for m in COUNT_PHRASE.finditer(s.text):
            n = to_number(m.group(1))
            noun = m.group(2).lower()
            if n is None or (n == 1 and noun.endswith(("er", "en"))):
                continue
            if re.search(r"\b(av|per|om|för|dessa|de|inom|våra|övriga|andra)\s*$", s.text[:m.start()]):
                continue
            claims[(noun, n)].append((s, m))
    flags = []
    for (noun, n), where in claims.items():
        found = distinct_units(ctx.units, COUNT_NOUNS[noun])
        if not found or len(found) == n:
            continue
        diff = abs(len(found) - n)
        # A small difference is a typical real slip; a large one more likely means we missed a table.
        score = 0.75 if diff <= max(3, 0.15 * n) else 0.45
        s0, m0 = where[0]
        flags.append(make_flag(
            "count_mismatch", ctx.doc, [], s0.line, score,
            f"Rapporten anger {n} {noun} men {len(found)} redovisas",
            [{"line": s.line, "quote": quote(s.text, m)} for s, m in where[:3]], key=f"{noun} {n}"))
    return flags


EXCEPTIONS = re.compile(r"\bmed (" + NUM[1:-1] + r") undantag\b|\b(endast|bara|enbart) " + NUM + r" (\w+ ){0,2}"
                        r"(är |bedöms (vara )?)?(försenade|försenad|inte påbörjade|avviker)\b", re.I)
SOME_DELAYED = re.compile(r"\b(några|flera|vissa|ett par|" + NUM[1:-1] + r") (av )?(\w+ )?(åtgärder|åtgärderna|uppdrag|"
                          r"uppdragen|åtaganden|åtagandena|aktiviteter|aktiviteterna)\b[^.]{0,40}\b(försenade|"
                          r"inte påbörjade|ej påbörjade)\b", re.I)


def deviates(ctx: ReportContext, u: Unit) -> CueHit | str | None:
    """Why an item is not on plan: its stated status, or, with no stated status, its own words."""
    st = stated(u)
    if st in DEVIATING:
        return st
    if st is None:
        hits = cue_hits(ctx.commentary(u))
        for kind in ("not_started", "delayed", "stopped"):
            if hits.get(kind):
                return hits[kind][0]
    return None


def summary_conflict(ctx: ReportContext) -> list[Flag]:
    return _exception_counts(ctx) + _named_items(ctx) + _status_tables(ctx)


def _named_in(ctx: ReportContext, u: Unit, lines: range) -> bool:
    core = _core(u.title)[:60]
    if len(core) < 12:
        return False
    return any(core in norm(ctx.lines.get(ln, "")) for ln in lines)


def _exception_counts(ctx: ReportContext) -> list[Flag]:
    """'... enligt plan med två undantag' while more items than that say they are not on plan."""
    flags = []
    for s in ctx.sentences:
        m = EXCEPTIONS.search(s.text)
        if not m:
            continue
        n = to_number(m.group(1) or m.group(3) or "")
        if n is None:
            continue
        following = range(s.line, s.line + 8)
        here = ctx.unit_of_line(s.line)
        # The items named in the lines after the claim are the announced exceptions (with their goals and åtgärder);
        # any other item that says it is not on plan contradicts the claim.
        unnamed = [(u, why) for u in ctx.units if u.id != here and u.line_start > s.line + 8
                   and (why := deviates(ctx, u)) and not _named_in(ctx, u, following)
                   and not _is_parent_of_named(ctx, u, following)]
        if not unnamed:
            continue
        ev = [{"line": s.line, "quote": quote(s.text, m)}]
        for u, why in unnamed[:4]:
            ev.append(why.evidence() if isinstance(why, CueHit) else
                      {"line": u.explicit_status_line or u.line_start, "quote": quote(f"{u.title}: {u.explicit_status}")})
        flags.append(make_flag(
            "summary_conflict", ctx.doc, [u.id for u, _ in unnamed[:6]], s.line, 0.55 + min(0.2, 0.05 * len(unnamed)),
            f"Sammanfattningen anger {n} undantag från planen, men ytterligare {len(unnamed)} poster avviker enligt "
            f"sina egna texter eller statusar", ev, key=f"undantag {n}"))
    return flags


def _is_parent_of_named(ctx: ReportContext, u: Unit, lines: range) -> bool:
    """A goal named in the exceptions covers its own åtgärd too (and vice versa)."""
    family = ctx.ancestors(u) | {c.id for c in ctx.units if u.id in ctx.ancestors(c)}
    return any(_named_in(ctx, ctx.by_id[f], lines) for f in family if f in ctx.by_id)


def _descendants(ctx: ReportContext, root: Unit) -> list[Unit]:
    ids = {root.id}
    if root.linked_unit_id:
        ids.add(root.linked_unit_id)
    changed = True
    while changed:
        changed = False
        for u in ctx.units:
            if u.id in ids:
                continue
            if (u.parent_id in ids or (u.linked_unit_id in ids)
                    or any(ctx.by_id[i].line_start <= u.line_start and u.line_end <= ctx.by_id[i].line_end
                           for i in ids if i in ctx.by_id)):
                ids.add(u.id)
                changed = True
    return [ctx.by_id[i] for i in ids if i in ctx.by_id and i != root.id]


def _named_items(ctx: ReportContext) -> list[Flag]:
    """A summary sentence names a goal and says some of its items are delayed, but none of them says so."""
    flags = []
    for s in ctx.sentences:
        m = SOME_DELAYED.search(s.text)
        if not m:
            continue
        here = ctx.unit_of_line(s.line)
        # "För fokusmålet *X* bedöms ... Inom detta fokusmål bedöms några ...": the name may come a sentence earlier.
        context = ctx.lines.get(s.line, "") if s.text in ctx.lines.get(s.line, "") else s.text
        named = [u for u in ctx.units if u.id != here and _names(context, u.title)]
        for u in named:
            below = _descendants(ctx, u)
            if not below or any(deviates(ctx, c) for c in below):
                continue
            flags.append(make_flag(
                "summary_conflict", ctx.doc, [u.id], s.line, 0.6,
                f"Sammanfattningen säger att {m.group(0).lower()}, men ingen post under \"{short(u.title)}\" "
                "anges som försenad eller ej påbörjad",
                [{"line": s.line, "quote": quote(s.text, m)}], key=f"named {m.group(5)}"))
    return flags


def _names(sentence: str, title: str) -> bool:
    core = _core(title)
    if len(core) < 12:
        return False
    n = norm(sentence)
    for span in re.findall(r"\*([^*]{8,200})\*|[\"”“]([^\"”“]{8,200})[\"”“]", sentence):
        sp = norm(next(x for x in span if x))
        if sp and SequenceMatcher(None, sp, core).ratio() >= 0.85:
            return True
    return f" {core} " in f" {n} "




def _status_tables(ctx: ReportContext) -> list[Flag]:
    """A status summary table (one column per status value, a row of counts) against the items' statuses."""
    flags = []
    lines = ctx.lines
    for ln in sorted(lines):
        header = lines[ln].split("\t")
        statuses = [canonical_status(c) if c.strip() else None for c in header]
        if sum(1 for x in statuses if x) < 3:
            continue
        for row_ln in range(ln + 1, ln + 4):
            cells = lines.get(row_ln, "").split("\t")
            numbers = {i: int(c) for i, c in enumerate(cells) if c.strip().isdigit()}
            if not numbers:
                continue
            claimed: Counter[str] = Counter()
            for i, n in numbers.items():
                if i < len(statuses) and statuses[i]:
                    claimed[statuses[i]] += n
            total = sum(claimed.values())
            units = [u for u in ctx.units if stated(u)]
            if not claimed or abs(len(units) - total) > max(2, 0.2 * total):
                break  # the table counts something other than the items we found
            actual = Counter(stated(u) for u in units)
            for st, n in claimed.items():
                if actual[st] >= n:
                    continue
                # Items whose own words say what the table claims but whose status says otherwise.
                cands = [u for u in units if stated(u) != st and _text_says(ctx, u, st)]
                flags.append(make_flag(
                    "summary_conflict", ctx.doc, [u.id for u in cands[:5]], row_ln, 0.7 if cands else 0.5,
                    f"Sammanställningen anger {n} {st} men {actual[st]} poster har den "
                    "statusen", [{"line": ln, "quote": quote(lines[ln])}, {"line": row_ln, "quote": quote(lines[row_ln])}]
                    + [{"line": c.line_start, "quote": quote(c.title)} for c in cands[:3]], key=f"table {st} {n}"))
            break
    return flags


def _text_says(ctx: ReportContext, u: Unit, st: str) -> bool:
    kinds = {DELAYED: ("delayed",), NOT_STARTED: ("not_started",), STOPPED: ("stopped",), DONE: ("done",),
             ON_PLAN: ("ongoing",)}.get(st, ())
    hits = cue_hits(ctx.commentary(u))
    return any(hits.get(k) for k in kinds)


# ----------------------------------------------------------------------------------------------------------------
# Detector (stretch): a claim and its exception, and events told as both done and still to come
# ----------------------------------------------------------------------------------------------------------------

UNIVERSAL = re.compile(r"\b(samtliga|alla) ([a-zåäö]{4,})\b", re.I)
PARTIAL = r"\b(ett fåtal|några|vissa|en del|flera) {noun}\b"
# "72 % av medarbetarna" after "samtliga medarbetare": the noun's stem (its inflected ending cut) after a share.
SHARE_OF = r"\b(\d{{1,2}}(?:[,.]\d+)?)\s?(?:%|procent)\s+(?:av\s+)?(?:\w+\s+)?{stem}\w*"
DONE_EVENT = re.compile(r"\b(har|hade) (\w+ ){0,2}?(\w{4,}(ats|its|tts|ts|tt))\b", re.I)
FUTURE_EVENT = re.compile(r"\b(kommer att (\w+ )?(\w{3,}as)|(\w{4,}as) under (hösten|våren|sommaren|året|20\d\d)|"
                          r"planeras (att )?(\w{4,}as))\b", re.I)
NEGATION = re.compile(r"\b(inte|ej|ännu inte|aldrig)\b", re.I)
STOPWORDS = set("""och att det som en ett för med har till av den på är i om inte de sig under samt eller
men så kan ska kommer vara även detta dessa där inom efter från nya nytt ny arbete arbetet nämnden nämndens
förvaltningen verksamheten verksamheterna""".split())
IRREGULAR = {"gjort": "gör", "gjorts": "gör", "göras": "gör", "gjordes": "gör", "tagits": "ta", "tas": "ta",
             "getts": "ge", "ges": "ge"}


def verb_stem(word: str) -> str:
    w = word.lower()
    if w in IRREGULAR:
        return IRREGULAR[w]
    if w.endswith("s"):
        w = w[:-1]
    for suf in ("ade", "at", "it", "tt", "a", "t"):
        if w.endswith(suf) and len(w) - len(suf) >= 4:
            return w[:-len(suf)]
    return w


def content_stems(text: str) -> set[str]:
    return {w[:8] for w in words_of(text) if len(w) >= 6 and w not in STOPWORDS}


def internal_contradiction(ctx: ReportContext) -> list[Flag]:
    return (_claim_and_exception(ctx) + _tense_conflicts(ctx) + _table_totals(ctx) + _year_spans(ctx)
            + _text_vs_tables(ctx) + _numbering_reused(ctx) + _same_item_two_statuses(ctx)
            + _missing_references(ctx) + _trend_vs_table(ctx))


def _same_item_two_statuses(ctx: ReportContext) -> list[Flag]:
    """One item followed up in two places (an overview table and its detail section, the same uppdrag under two
    goals) with two different stated statuses: at most one of them is right."""
    # The cheap tests first: most pairs differ in status or scale and never reach the title comparison.
    items = [(u, st, is_goal_scale(u)) for u in ctx.units if (st := stated(u))]
    flags = []
    for i, (a, sa, goal_a) in enumerate(items):
        for b, sb, goal_b in items[i + 1:]:
            if sa == sb or goal_a != goal_b:
                continue
            if not (a.linked_unit_id == b.id or b.linked_unit_id == a.id or titles_alike(a.title, b.title)):
                continue
            if a.id in ctx.ancestors(b) or b.id in ctx.ancestors(a):
                continue
            ev = [{"line": u.explicit_status_line or u.title_line or u.line_start,
                   "quote": f"{short(u.title)}: {u.explicit_status or stated(u)}"} for u in (a, b)]
            flags.append(make_flag(
                "internal_contradiction", ctx.doc, [a.id, b.id], ev[1]["line"], 0.7,
                f"Samma post står på två ställen med olika status: \"{short(a.explicit_status or sa or '', 30)}\" "
                f"(rad {ev[0]['line']}) och \"{short(b.explicit_status or sb or '', 30)}\" (rad {ev[1]['line']})", ev,
                key=f"two statuses {sa} {sb}"))
    return flags


# ----------------------------------------------------------------------------------------------------------------
# Detector part: one number for two different items ("Uppdrag 12" twice, "3.8" twice)
# ----------------------------------------------------------------------------------------------------------------

DOTTED_NUMBER = r"\d{1,2}(?:\.\d{1,2}){1,2}"
SAME_TITLE = 60  # rapidfuzz ratio at or above which two titles are the same item listed twice


@lru_cache(maxsize=1)
def _numbered_title() -> re.Pattern[str]:
    from nlp.layout import vocab

    words = sorted(vocab()["items"]["words"], key=len, reverse=True)
    kinds = "|".join(re.escape(w) for w in words)
    return re.compile(rf"^\s*(?:(?P<kw>{kinds})\s*(?:nr\.?\s*)?(?P<num>\d{{1,3}}(?:\.\d{{1,2}})*)|"
                      rf"(?P<dotted>{DOTTED_NUMBER}))\b[.:)]?\s*(?P<rest>.*)$", re.I)


def numbering_key(title: str) -> tuple[str, str] | None:
    """('uppdrag 12', the rest of the title) for a title numbered with an item word or a dotted number; a bare
    '1.' is left out (numbering restarts under every heading)."""
    m = _numbered_title().match(title or "")
    if not m:
        return None
    key = f"{m.group('kw').lower()} {m.group('num')}" if m.group("kw") else m.group("dotted")
    return key, m.group("rest").strip()


def _numbering_reused(ctx: ReportContext) -> list[Flag]:
    from rapidfuzz import fuzz

    by_key: dict[str, list[tuple[Unit, str]]] = defaultdict(list)
    for u in ctx.units:
        found = numbering_key(u.title)
        if found and found[1]:
            by_key[found[0]].append((u, found[1]))
    flags = []
    for key, found in by_key.items():
        (a, rest_a), other = found[0], None
        for b, rest_b in found[1:]:
            linked = b.linked_unit_id == a.id or a.linked_unit_id == b.id
            if not linked and fuzz.ratio(norm(rest_a), norm(rest_b)) < SAME_TITLE:
                other = (b, rest_b)
                break
        if other is None:
            continue
        b, _ = other
        flags.append(make_flag(
            "internal_contradiction", ctx.doc, [a.id, b.id], b.title_line or b.line_start, 0.6,
            f"Samma nummer \"{short(key, 30)}\" står på två olika poster: \"{short(a.title)}\" och \"{short(b.title)}\"",
            [{"line": a.title_line or a.line_start, "quote": quote(a.title)},
             {"line": b.title_line or b.line_start, "quote": quote(b.title)}], key=f"number {key}"))
    return flags


@lru_cache(maxsize=1)
def _reference_pattern() -> re.Pattern[str]:
    from nlp.layout import vocab

    words = sorted(vocab()["items"]["words"], key=len, reverse=True)
    return re.compile(rf"\b(?P<kw>{'|'.join(re.escape(w) for w in words)})\s+(?:nr\.?\s*)?"
                      rf"(?P<num>\d{{1,3}}(?:\.\d{{1,2}})*)\b(?![.,]\d)", re.I)


MIN_NUMBERED = 3  # a report numbers its items with a word only if at least this many items carry it


def _missing_references(ctx: ReportContext) -> list[Flag]:
    """Running text that points at an item by its number ("se uppdrag 23") in a report that numbers its items with
    that word, where no item carries the number: a renumbered or removed item, or a typo in the reference."""
    keys = {k[0] for u in ctx.units if (k := numbering_key(u.title))}
    numbered = Counter(k.split()[0] for k in keys if " " in k)
    words = {w for w, n in numbered.items() if n >= MIN_NUMBERED}
    if not words:
        return []
    titles = {u.title_line or u.line_start for u in ctx.units}
    # A line that opens with the number is the item's own heading, even where no unit was made of it (a goal
    # without items): the item exists, and the reader, not the report, missed it.
    headed = {f"{m.group('kw').lower()} {m.group('num')}" for text in ctx.lines.values()
              if (m := _reference_pattern().match(text.strip()))}
    flags = []
    for ln, text in sorted(ctx.lines.items()):
        if ln in titles:
            continue
        for m in _reference_pattern().finditer(text):
            word, key = m.group("kw").lower(), f"{m.group('kw').lower()} {m.group('num')}"
            if word not in words or key in keys or key in headed:
                continue
            have = sorted((k for k in keys if k.startswith(word + " ")), key=_number_order)
            uid = ctx.unit_of_line(ln)
            flags.append(make_flag(
                "internal_contradiction", ctx.doc, [uid] if uid else [], ln, 0.6,
                f"Texten hänvisar till \"{m.group(0)}\", men ingen post i rapporten har det numret (rapportens "
                f"{word}: {short(', '.join(k.split(' ', 1)[1] for k in have), 40)})",
                [{"line": ln, "quote": quote(text, m)}], key=f"reference {key}"))
    return flags


def _number_order(key: str) -> tuple[int, ...]:
    return tuple(int(p) for p in key.split(" ", 1)[1].split("."))


# Words every financial row and sentence shares; they say nothing about which row a sentence speaks of.
FINANCE_WORDS = {w[:8] for w in """resultat resultatet avvikelse avvikelsen budget budgeten prognos prognosen
prognosticerar nettokostnad kommunbidrag utfall utfallet helåret helårsprognos negativt negativ positivt positiv
jämfört kostnad kostnader kostnaderna intäkter verksamhet verksamheten verksamheter underskott överskott
periodens perioden""".split()}
AMOUNT = re.compile(r"(?<![\d,])(\d{1,3}(?:[  ]\d{3})*(?:,(\d+))?)\s*(mnkr|miljoner kronor|mkr|tkr|tusen kronor)\b", re.I)


def table_scale(ctx: ReportContext, header: int, rows: list[TableRow]) -> float:
    """How many mnkr one table unit is: tkr tables are told by their header or title, else by their magnitude."""
    around = " ".join(ctx.lines.get(ln, "") for ln in range(header - 2, header + 1)).lower()
    if re.search(r"\btkr\b|tusen kronor", around):
        return 0.001
    if re.search(r"\bmnkr\b|miljoner kronor|\bmkr\b", around):
        return 1.0
    biggest = max((abs(v) for r in rows for v in r.values if v is not None), default=0)
    return 0.001 if biggest >= 5000 else 1.0


def _text_vs_tables(ctx: ReportContext) -> list[Flag]:
    """An amount in the text that is a near miss of what the tables say about the same thing ('7,0 mnkr' where the
    rows give 6 945 tkr). Candidates are the values of rows that share a word with the paragraph, and the
    differences between values of one row (deviations against budget or prognosis). Only when no candidate
    matches at the stated precision and one misses by less than a rounding step is the amount flagged."""
    rows: list[tuple[TableRow, float, set[str]]] = []
    ends: list[tuple[int, list[tuple[TableRow, float]]]] = []  # (last line, rows) per table
    for header, block in tables(ctx):
        scale = table_scale(ctx, header, block)
        rows += [(r, scale, content_stems(r.label) - FINANCE_WORDS) for r in block if len(r.label) >= 4]
        ends.append((block[-1].line, [(block[-1], scale)]))
    if not rows:
        return []
    flags = []
    for s in ctx.sentences:
        if not _is_prose(s.text):
            continue
        amounts = list(AMOUNT.finditer(s.text))
        if not amounts:
            continue
        subject = content_stems(ctx.lines.get(s.line, s.text)) - FINANCE_WORDS
        # The table right above the paragraph is what "Verksamheten har ..." speaks of; rows elsewhere must share
        # a word with the paragraph.
        above = [rs for end, rs in ends if 0 < s.line - end <= 4]
        matched = (above[-1] if above else []) + [(r, sc) for r, sc, words in rows if words & subject]
        if not matched:
            continue
        cands = []
        for r, sc in matched:
            vals = [v * sc for v in r.values if v is not None]
            cands += [(abs(v), r) for v in vals] + [(abs(a - b), r) for i, a in enumerate(vals) for b in vals[i + 1:]]
        for m in amounts:
            digits = len(m.group(2) or "")
            x = float(re.sub(r"[  ]", "", m.group(1)).replace(",", "."))
            if m.group(3).lower() in ("tkr", "tusen kronor"):
                x, digits = x / 1000, digits + 3
            if any(round(c, digits) == round(x, digits) for c, _ in cands):
                continue
            step = 10 ** -digits
            near = [(abs(c - x), c, r) for c, r in cands if abs(c - x) < step]
            if not near:
                continue
            _, c, r = min(near, key=lambda t: t[0])
            flags.append(make_flag(
                "internal_contradiction", ctx.doc, [], s.line, 0.5,
                f"Texten anger {m.group(0)} men tabellen ger {str(round(c, digits + 1)).replace('.', ',')} mnkr "
                f"(\"{short(r.label, 40)}\")",
                [{"line": s.line, "quote": quote(s.text, m)}, {"line": r.line, "quote": quote(ctx.lines[r.line])}],
                key=f"amount {m.group(0)} {s.text[:60]}"))
    return flags


TREND = re.compile(r"\b(?:har|hade)\s+(?:\w+\s+)?(?P<verb>minskat|ökat|sjunkit|stigit|gått ner|gått upp)\b", re.I)
TREND_DOWN = ("minskat", "sjunkit", "gått ner")
# A trend told against the plan, not against last year: the table's before/after columns do not speak to it.
AGAINST_PLAN = re.compile(r"\b(budget\w*|åtagande\w*|plan\w*|prognos\w*|mål\w*|förväntat|beräknat)\b", re.I)
OUTCOME_HEADER = re.compile(r"\b(utfall|resultat|helår|periodens)\b|^\s*(?:20\d\d|\d{6}\s*-\s*\d{6})\s*$", re.I)
PLAN_HEADER = re.compile(r"\b(budget|åtagande|mål|avvikelse|kommunbidrag|förändring|vs)\b", re.I)
TREND_WINDOW = 30  # lines after a table within which a sentence may speak of its rows
TREND_MARGIN = 0.02  # a change smaller than this share of the earlier value is no trend either way


def header_year(cell: str) -> int | None:
    """The year a column header speaks of: '2022', 'Utfall jan-aug 2019', '202401-202408', 'Prognos -23'."""
    m = re.search(r"(20\d\d)", cell) or re.search(r"(?<![\d])-\s?(\d\d)\b", cell)
    return None if m is None else int(m.group(1)) if len(m.group(1)) == 4 else 2000 + int(m.group(1))


def trend_columns(ctx: ReportContext, header: int) -> tuple[int, int] | None:
    """(earlier, report-year) value columns of a table: outcomes of an earlier year against the report year's
    outcome, or its prognosis where the table has no outcome for it. None when the header names no such pair."""
    if not ctx.year:
        return None
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in ctx.lines.get(header, "").split("\t")][1:]
    cols = [(i, header_year(c), c) for i, c in enumerate(cells) if not PLAN_HEADER.search(c)]
    before = [(y, i) for i, y, c in cols if y and y < ctx.year and OUTCOME_HEADER.search(c)]
    now = [(0 if OUTCOME_HEADER.search(c) else 1, i) for i, y, c in cols if y == ctx.year]
    if not before or not now:
        return None
    return min(before)[1], min(now)[1]


def _trend_vs_table(ctx: ReportContext) -> list[Flag]:
    """'Hemtjänsttimmar har minskat' under a table whose row for hemtjänsttimmar goes up from the earlier year's
    outcome to this year's (outcome or prognosis). The sentence's words before the verb must name one row."""
    found = [(rows[-1].line, header, rows, cols) for header, rows in tables(ctx)
             if (cols := trend_columns(ctx, header)) is not None]
    flags = []
    for s in ctx.sentences:
        m = TREND.search(s.text)
        if not m or "\t" in ctx.lines.get(s.line, "") or AGAINST_PLAN.search(s.text) \
                or NEGATION.search(s.text[:m.end()]):
            continue
        subject = _topic_terms(s.text[:m.start()])
        named = [(r, header, cols) for end, header, rows, cols in found if 0 < s.line - end <= TREND_WINDOW
                 for r in rows if subject & _topic_terms(r.label)]
        if len(named) != 1:
            continue
        row, header, (a, b) = named[0]
        before, now = (row.values[k] if k < len(row.values) else None for k in (a, b))
        if before is None or now is None or abs(now - before) <= TREND_MARGIN * max(abs(before), 1):
            continue
        down = m.group("verb").lower() in TREND_DOWN
        if down == (now < before):
            continue
        head = [re.sub(r"<[^>]+>", "", c).strip() for c in ctx.lines[header].split("\t")]
        flags.append(make_flag(
            "internal_contradiction", ctx.doc, [u] if (u := ctx.unit_of_line(s.line)) else [], s.line, 0.55,
            f"Texten säger \"{short(s.text[:m.end()], 50)}\" men tabellen visar {fmt_num(before)} ({head[a + 1]}) → "
            f"{fmt_num(now)} ({head[b + 1]}) för \"{short(row.label, 40)}\"",
            [{"line": s.line, "quote": quote(s.text, m)}, {"line": row.line, "quote": quote(ctx.lines[row.line])}],
            key=f"trend {row.label} {m.group('verb')}"))
    return flags


def _topic_terms(text: str) -> set[str]:
    """What a phrase is about, as search normalises words (lemma + stem): 'platserna' and 'platser' agree."""
    from nlp.swedish import normal_word

    return {normal_word(w) for w in words_of(text) if len(w) >= 5 and w not in STOPWORDS
            and w[:8] not in FINANCE_WORDS}


CELL_NUMBER = re.compile(r"^[−–-]?\s?\d{1,3}(?:[  ]\d{3})*(?:,\d+)?$")
TOTAL_LABEL = re.compile(r"^\s*(summa|totalt|total|alla|nämnden totalt|hela nämnden)\b", re.I)
PART_LABEL = re.compile(r"^\s*[-–]?\s*(varav|därav|varav:)\b", re.I)


def cell_number(cell: str) -> float | None:
    c = cell.strip().replace("−", "-").replace("–", "-")
    if not CELL_NUMBER.match(c):
        return None
    return float(re.sub(r"[  ]", "", c).replace(",", "."))


@dataclass
class TableRow:
    line: int
    label: str
    values: list[float | None]


def tables(ctx: ReportContext) -> list[tuple[int, list[TableRow]]]:
    """Blocks of consecutive tab-separated lines: (header line, rows with a label and numeric cells)."""
    out: list[tuple[int, list[TableRow]]] = []
    header, rows = None, []
    for ln in sorted(ctx.lines) + [max(ctx.lines, default=0) + 1]:
        text = ctx.lines.get(ln, "")
        cells = text.split("\t") if "\t" in text else []
        values = [cell_number(c) for c in cells[1:]]
        if cells and any(v is not None for v in values):
            rows.append(TableRow(ln, cells[0].strip(), values))
            continue
        if rows and header is not None:
            out.append((header, rows))
        rows = []
        header = ln if cells else None
    return out


def rounding_slack(values: list[float]) -> float:
    """How far a sum of rounded figures may fall from its rounded total: half a unit of the last shown digit for
    each part and for the total ("2 077" against rows summing to 2 076 is what rounding gives)."""
    decimals = max((len(f"{v:.6f}".rstrip("0").split(".")[1]) for v in values), default=0)
    return 0.5 * len(values) * 10.0 ** -decimals


def _table_totals(ctx: ReportContext) -> list[Flag]:
    """A total row that its rows do not add up to, beyond what rounding explains. Only near misses are flagged
    (within 2 %): a large gap more likely means rows we do not see (a table continued elsewhere, sub-totals) than
    a slip in the report."""
    flags = []
    for header, rows in tables(ctx):
        parts: list[TableRow] = []
        for row in rows:
            if not TOTAL_LABEL.match(row.label):
                if not PART_LABEL.match(row.label):
                    parts.append(row)
                continue
            if len(parts) < 2:
                parts = []
                continue
            bad = []
            for col, total in enumerate(row.values):
                vals = [p.values[col] if col < len(p.values) else None for p in parts]
                if total is None or any(v is None for v in vals):
                    continue
                diff = sum(vals) - total  # type: ignore[arg-type]
                if rounding_slack([*vals, total]) < abs(diff) <= 0.02 * max(abs(total), 1):  # type: ignore[list-item]
                    bad.append((col, sum(vals), total))  # type: ignore[arg-type]
            if bad:
                col, got, total = bad[0]
                flags.append(make_flag(
                    "internal_contradiction", ctx.doc, [], row.line, 0.5 + min(0.2, 0.05 * len(bad)),
                    f"Raderna summerar inte till \"{short(row.label, 40)}\": {fmt_num(got)} mot {fmt_num(total)}"
                    + ("" if len(bad) == 1 else ", och i ytterligare en kolumn" if len(bad) == 2 else
                       f", och i ytterligare {len(bad) - 1} kolumner"),
                    [{"line": header, "quote": quote(ctx.lines.get(header, ""))},
                     {"line": row.line, "quote": quote(ctx.lines[row.line])}], key=f"total {row.label}"))
            parts = []
    return flags


def fmt_num(x: float) -> str:
    return f"{x:,.0f}".replace(",", " ") if float(x).is_integer() else f"{x:.1f}".replace(".", ",")


YEARS_SPAN = re.compile(r"\bde senaste " + NUM + r" åren\b", re.I)


def _year_spans(ctx: ReportContext) -> list[Flag]:
    """'de senaste N åren' right after a table with another number of year columns."""
    flags = []
    header_years = {}
    for header, rows in tables(ctx):
        years = re.findall(r"\b(?:19|20)\d\d\b", ctx.lines.get(header, ""))
        if len(years) >= 3 and len(set(years)) == len(years):
            header_years[rows[-1].line] = (header, len(years))
    for s in ctx.sentences:
        m = YEARS_SPAN.search(s.text)
        if not m:
            continue
        near = [(end, h) for end, h in header_years.items() if 0 < s.line - end <= 4]
        if not near:
            continue
        header, n_years = near[-1][1]
        said = to_number(m.group(1))
        if said and said != n_years:
            flags.append(make_flag(
                "internal_contradiction", ctx.doc, [], s.line, 0.55,
                f"Texten säger \"{m.group(0)}\" men tabellen ovanför visar {n_years} år",
                [{"line": s.line, "quote": quote(s.text, m)}, {"line": header, "quote": quote(ctx.lines[header])}],
                key=f"years {said} {ctx.lines[header][:60]}"))
    return flags


def _claim_and_exception(ctx: ReportContext) -> list[Flag]:
    """A universal claim ('samtliga X', 'alla X') and, a few sentences on, its exception ('några X', 'ett fåtal X')
    in one commentary."""
    flags = []
    for u in ctx.units:
        sents = ctx.commentary(u)
        for i, s in enumerate(sents):
            for m in UNIVERSAL.finditer(s.text):
                noun = m.group(2).lower()
                pat = re.compile(PARTIAL.format(noun=re.escape(noun)), re.I)
                share = re.compile(SHARE_OF.format(stem=re.escape(noun[:max(4, len(noun) - 3)])), re.I)
                later = next(((t, mm, "nämner sedan \"{}\" som undantag") for t in sents[i + 1:i + 4]
                              if (mm := pat.search(t.text))), None) or next(
                    ((t, mm, "anger \"{}\"") for t in sents[i:i + 4] if (mm := share.search(t.text))
                     and float(mm.group(1).replace(",", ".")) < 100), None)
                if not later:
                    continue
                t, mm, what = later
                flags.append(make_flag(
                    "internal_contradiction", ctx.doc, [u.id], s.line, 0.55,
                    f"Texten säger \"{m.group(0)}\" men " + what.format(mm.group(0)),
                    [{"line": s.line, "quote": quote(s.text, m)}, {"line": t.line, "quote": quote(t.text, mm)}],
                    key=f"claim {noun}"))
                break
    return flags


@dataclass
class Event:
    sentence: Sentence
    verb: str
    done: bool
    match: re.Match[str]
    stems: set[str]


def _events(ctx: ReportContext) -> list[Event]:
    out = []
    for s in ctx.sentences:
        if not _is_prose(s.text) or len(s.text) > 400:
            continue
        for m in DONE_EVENT.finditer(s.text):
            if NEGATION.search(s.text[max(0, m.start() - 12):m.end()]):
                continue
            out.append(Event(s, verb_stem(m.group(3)), True, m, content_stems(s.text)))
        for m in FUTURE_EVENT.finditer(s.text):
            verb = m.group(3) or m.group(4) or m.group(7)
            if verb and not NEGATION.search(s.text[max(0, m.start() - 12):m.end()]):
                out.append(Event(s, verb_stem(verb), False, m, content_stems(s.text)))
    return out


def _tense_conflicts(ctx: ReportContext) -> list[Flag]:
    """The same event told as done in one place and as still to come in another ('har påbörjats' /
    'påbörjas under hösten'). Sentences must share the verb and a rare content word besides it."""
    events = _events(ctx)
    df = Counter(st for s in ctx.sentences for st in content_stems(s.text))
    groups: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in events:
        for st in sorted(e.stems):  # sorted: a set's order depends on the hash seed, and flag ids must not
            if 2 <= df[st] <= 6 and not st.startswith(e.verb[:6]):
                groups[(e.verb, st)].append(e)
    flags, used = [], set()
    for (verb, anchor), evs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        done = [e for e in evs if e.done]
        todo = [e for e in evs if not e.done]
        if not done or not todo:
            continue
        pairs = [(d, t) for d in done for t in todo if d.sentence.text != t.sentence.text
                 and len(d.stems & t.stems) >= 2 and abs(d.sentence.line - t.sentence.line) > 1]
        if not pairs:
            continue
        lines = sorted({e.sentence.line for p in pairs for e in p})
        if tuple(lines) in used:
            continue
        used.add(tuple(lines))
        d0, t0 = pairs[0]
        unit_ids = sorted({u for ln in lines if (u := ctx.unit_of_line(ln))})
        evidence = [{"line": e.sentence.line, "quote": quote(e.sentence.text, e.match)}
                    for e in sorted({id(e): e for p in pairs for e in p}.values(), key=lambda e: e.sentence.line)][:4]
        flags.append(make_flag(
            "internal_contradiction", ctx.doc, unit_ids, t0.sentence.line, 0.6,
            f"Samma sak beskrivs som gjord (\"{d0.match.group(0)}\", rad {d0.sentence.line}) och som kommande "
            f"(\"{t0.match.group(0)}\", rad {t0.sentence.line})", evidence, key=f"tense {verb} {anchor}"))
    return flags


# ----------------------------------------------------------------------------------------------------------------
# Running the detectors
# ----------------------------------------------------------------------------------------------------------------

DETECTORS: dict[str, Callable[[ReportContext], list[Flag]]] = {
    "status_text_conflict": status_text_conflict,
    "summary_conflict": summary_conflict,
    "overdue": overdue,
    "period_mismatch": period_mismatch,
    "duplicate_text": duplicate_text,
    "count_mismatch": count_mismatch,
    "internal_contradiction": internal_contradiction,
}


def cap_share(flags: list[Flag], n_units: int, share: float = MAX_UNIT_SHARE) -> list[Flag]:
    """Keep the strongest flags of one detector until they point at `share` of the report's units."""
    if n_units == 0:
        return flags
    limit = max(1, int(share * n_units))
    kept, covered = [], set()
    for f in sorted(flags, key=lambda f: -f.score):
        new = set(f.unit_ids) - covered
        if new and len(covered | new) > limit:
            continue
        covered |= new
        kept.append(f)
    return kept


def dedupe(flags: list[Flag]) -> list[Flag]:
    by_id: dict[str, Flag] = {}
    for f in flags:
        if f.id not in by_id or f.score > by_id[f.id].score:
            by_id[f.id] = f
    return list(by_id.values())


def run_detectors(ctx: ReportContext, kinds: Iterable[str] | None = None) -> list[Flag]:
    flags: list[Flag] = []
    for kind in kinds or DETECTORS:
        found = DETECTORS[kind](ctx)
        if kind == "duplicate_text":
            found += cross_report_duplicates(ctx)
        flags += cap_share(dedupe(found), len(ctx.units))
    return sorted(dedupe(flags), key=lambda f: (-f.score, f.line or 0, f.id))


def parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def context_from_store(store: Any, doc: str) -> ReportContext:
    report = store.report(doc)
    if report is None:
        from errors import ToolError
        raise ToolError(f"{doc}: ingen sådan rapport i databasen")
    # Only the units that share a MinHash band with this report's (nlp/near_duplicates.py): the cost of the
    # cross-report check does not grow with the number of reports stored.
    others = candidate_units(store, doc)
    namnd = {d: (store.report(d) or {}).get("namnd") for d in {u.doc for u in others}}
    return ReportContext(
        doc=doc, lines=dict(store.lines(doc)), units=store.units(doc), kommun=report.get("kommun"),
        namnd=report.get("namnd"), year=report.get("year"), period=report.get("period"),
        report_date=parse_date(report.get("report_date")), other_units=others, other_namnd=namnd)


def compute_flags(store: Any, doc: str, thresholds: dict[str, float] | None = None) -> list[Flag]:
    """The report's flags, lowered where reviewers dismissed similar ones (nlp.flag_feedback), each detector's
    below its minimum score left out (`thresholds`; None: the store's file from `cli.py train --labels`, if any)."""
    from nlp import flag_thresholds
    from nlp.flag_feedback import adjust, reviewed_flags

    flags = adjust(run_detectors(context_from_store(store, doc)), reviewed_flags(store))
    return flag_thresholds.apply(flags, flag_thresholds.load(store) if thresholds is None else thresholds)


def fit_thresholds(store: Any, labels: dict[str, Any], labels_info: dict[str, Any] | None) -> list[str]:
    """Choose per-detector minimum scores on the labelled reports in the store, save them with their source."""
    from nlp import flag_thresholds
    from nlp.labels import finds, label_problems

    docs = [d for d in sorted(labels) if store.report(d) is not None]
    problems = {d: label_problems(labels[d], store.units(d)) for d in docs}
    if not any(problems.values()):
        return ["flaggtrösklar: etiketterna har inga inkonsekvenser – trösklarna lämnas orörda"]
    flags = {d: compute_flags(store, d, thresholds={}) for d in docs}
    chosen = flag_thresholds.choose(flags, problems, finds, KINDS)
    flag_thresholds.save(store, chosen, {"labels": labels_info,
                                         "problems": {d: len(p) for d, p in problems.items()}})
    return flag_thresholds.describe(store)


def apply_flags(store: Any, docs: Iterable[str] | None = None) -> dict[str, int]:
    """Recompute and store the flags of these reports (all by default). Decisions live in their own table, keyed
    by flag id, so they outlive this."""
    out = {}
    for doc in (list(docs) if docs is not None else [r["doc"] for r in store.reports()]):
        flags = compute_flags(store, doc)
        store.replace_flags(doc, flags)
        out[doc] = len(flags)
    return out
