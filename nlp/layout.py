"""Line-level layout cues shared by the segmenter: what kind of line is this?

Everything here is about report *layout* vocabulary (column labels, goal keywords, status words), never about
particular reports, so the same rules serve kommuner nobody has seen.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nlp.text import norm  # the one normaliser (also L.norm for the segmenter)

# Values that fill a status or bedömning column (the word alone on its line or in its cell).
STATUS_VALUE_RE = re.compile(
    r"^(?:"
    r"(?:i (?:hög|låg) grad|helt|delvis|ej|inte|till (?:stor|viss) del|i stort sett) uppfyll(?:t|da|d)"
    r"|uppfyll(?:t|da)|ej uppfyllt|ej bedömd|ej bedömt|bedöms ej"
    r"|pågår|pågående(?: arbete)?|påbörjad|påbörjat|ej påbörjad|ej påbörjat|inte påbörjad|inte startad|ej startad"
    r"|klar|klart|klart,? avslutat|avslutad|avslutat|färdig|färdigt|genomförd|genomfört|slutförd|slutfört"
    r"|försenad|försenat|väntar|vilande|pausad|stoppad|stoppat|avbruten|avbrutet|utgår"
    r"|enligt plan|ej enligt plan|delvis enligt plan"
    r"|[✓✔✗✘●○◐◑◒◓]"
    r")[.!]?$",
    re.IGNORECASE,
)
VOCAB_PATH = Path(__file__).resolve().parent / "report_vocab.toml"


@lru_cache(maxsize=1)
def vocab() -> dict:
    with open(VOCAB_PATH, "rb") as f:
        return tomllib.load(f)


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def compile_vocab(v: dict) -> None:
    """(Re)build the patterns that come from the vocabulary: at import from report_vocab.toml, and again when a
    layout profile adds a template's own words (nlp/profile.py)."""
    global _V, STATUS_LABEL_RE, STATUS_LINE_RE, STATUS_IN_TEXT_RE, LEVEL_KEYWORDS, COMMENT_RE, ITEM_COLUMN_RE
    global COLUMN_LABEL_RE, ITEM_HEADING_RE
    _V = v
    STATUS_LABEL_RE = re.compile(rf"^(?:{_alternation(v['labels']['status'])})[:.]?$", re.I)
    # "Status: Pågår", "Aktivitetsstatus – Klar": a status label and its value on one line.
    STATUS_LINE_RE = re.compile(
        rf"^(?P<label>{_alternation(v['labels']['status'])})\s*[:–\-]\s*(?P<value>\S.{{0,60}})$", re.I)
    # The same inside running text: "... Status: klar." closing a paragraph.
    STATUS_IN_TEXT_RE = re.compile(
        rf"(?:^|[.!?…]\s+)(?:{_alternation(v['labels']['status'])})\s*:\s*(?P<value>[^.;:!?…]{{2,40}})(?=[.;!?…]|$)",
        re.I)
    # Goal and item keywords -> the level a unit gets. Longest keys first so "nämndens verksamhetsmål" wins.
    LEVEL_KEYWORDS = sorted(v["levels"].items(), key=lambda kv: -len(kv[0]))
    _LEVEL_PATTERNS[:] = [(k, lvl, re.compile(rf"(?:^|\s){re.escape(k)}(?:\s|:|$)")) for k, lvl in LEVEL_KEYWORDS]
    COMMENT_RE = re.compile(rf"^(?:{_alternation(v['labels']['comment'])})\s*:", re.I)
    ITEM_COLUMN_RE = re.compile(rf"(?:^|\b)(?:{_alternation(v['items']['words'])})\b", re.I)
    # "Uppdrag 12: Title", "Åtgärd 3.1 – Title", "Aktivitet 4. Title": an item word and its number open a heading in
    # plain-text and Word templates that use no heading styles.
    ITEM_HEADING_RE = re.compile(
        rf"^(?P<word>{_alternation(v['items']['words'])})\s+(?P<num>\d{{1,3}}(?:\.\d{{1,2}}){{0,2}})\s*[:.–\-]\s*"
        r"(?P<title>\S.*)$", re.I)
    COLUMN_LABEL_RE = re.compile(
        rf"^(?:{_alternation([w for ws in v['columns'].values() for w in ws])}|beslutat.*|avvikelse.*|\d{{4}}.*|"
        r".*\(mnkr\)|.*\(tkr\))$", re.I)


_V: dict = {}
STATUS_LABEL_RE = STATUS_LINE_RE = STATUS_IN_TEXT_RE = COMMENT_RE = ITEM_COLUMN_RE = COLUMN_LABEL_RE = re.compile("$^")
ITEM_HEADING_RE = re.compile("$^")
LEVEL_KEYWORDS: list[tuple[str, str]] = []
_LEVEL_PATTERNS: list[tuple[str, str, re.Pattern[str]]] = []
compile_vocab(vocab())
TRAILING_LABEL_RE = re.compile(r"\s+(?:status|bedömning)[:.]?$", re.I)
GOAL_LEVELS = {"inriktningsmål", "verksamhetsmål", "nämndmål"}

# "Fokusmål 1", "Inriktningsmål 2: Kommunen ska ...", "Kommunfullmäktiges verksamhetsmål: <goal>".
GOAL_HEADER_RE = re.compile(
    r"^(?P<kw>kommunfullmäktiges (?:verksamhets|inriktnings)mål|nämndens verksamhetsmål|övergripande mål|"
    r"inriktningsmål|verksamhetsmål|fokusmål|nämndmål)\b\s*(?P<num>\d+)?\s*[:.]?\s*(?P<title>.*)$",
    re.IGNORECASE,
)
# "Uppdrag 1: ...", "Uppdrag: 35: ...", "Nämndmål 1: ..." introducing a table of åtgärder.
GROUP_HEADER_RE = re.compile(r"^(?P<kw>uppdrag|nämndmål|mål|delmål)\s*:?\s*(?P<num>\d+)\s*[:.]\s*(?P<title>\S.*)$",
                             re.I)
NUMBERED_ITEM_RE = re.compile(r"^(?:[A-ZÅÄÖ ]{3,}(?:\d{4})?:?\s*)?(?P<num>\d{1,2}(?:\.\d{1,2}){0,2})[.:]?\s+(?P<title>[A-ZÅÄÖ\"«].*)$")
KS_DECISION_RE = re.compile(r"^ks[- ]beslut\s*:", re.I)
ALLCAPS_LABEL_RE = re.compile(r"^[A-ZÅÄÖ][A-ZÅÄÖ \-]{3,40}$")


def is_label(text: str) -> bool:
    """A cell or line that is only a label of the template: a status or comment label, a column name, or a bare
    item word ("Aktivitet", "Status", "Kommentar:", "Ansvarig")."""
    value = text.strip().rstrip(":").strip()
    return bool(value) and bool(STATUS_LABEL_RE.match(value) or COMMENT_RE.match(value + ":")
                                or ITEM_COLUMN_RE.fullmatch(value) or column_role(value))


def colour_word(text: str) -> bool:
    """A colour word alone ("Grönt", "röd"): a status shown as a colour."""
    from nlp.status_vocab import load_map

    value = norm(text)
    return bool(value) and value in load_map().colours


@dataclass
class Line:
    """One source line with the cues the segmenter needs."""

    number: int  # 1-based
    raw: str
    clean: str

    @property
    def cells(self) -> list[str]:
        return [c.strip() for c in self.clean.split("\t")]

    @property
    def is_blank(self) -> bool:
        return not self.clean.strip()

    @property
    def is_row(self) -> bool:
        return "\t" in self.raw.strip("\n") and bool(self.clean.strip())

    @property
    def is_md_heading(self) -> bool:
        return self.raw.lstrip().startswith("#")

    @property
    def is_bold_line(self) -> bool:
        r = self.raw.strip().rstrip("\t")
        return (r.startswith("**") and r.endswith("**")) or (r.lower().startswith("<b>") and r.lower().endswith("</b>"))

    @property
    def words(self) -> int:
        return len(self.clean.split())

    @property
    def text(self) -> str:
        """Clean text with cells joined, for titles and commentary."""
        return " | ".join(c for c in self.cells if c)


def is_status_value(text: str) -> bool:
    return bool(STATUS_VALUE_RE.match(text.strip().strip("*").strip()))


def is_status_cell(text: str) -> bool:
    """A cell beside an item's title that states its status: the strict values above, a colour word (a shaded
    cell or coloured icon read as its colour), or a short value the status vocabulary knows ("Planerad",
    "Ej aktuell", "Delvis uppnått"). Only for cells after the first: a title may well start with such words."""
    from nlp.status_vocab import canonical_status, load_map

    value = text.strip().strip("*").strip()
    if is_status_value(value) or norm(value) in load_map().colours:
        return True
    return 1 <= len(value.split()) <= 4 and not value.endswith(".") and canonical_status(value) is not None

def level_for(text: str, default: str | None = None) -> str | None:
    """The level named by the longest level phrase the text starts with or holds as whole words."""
    low = text.lower()
    for key, level, pattern in _LEVEL_PATTERNS:
        if low.startswith(key) or pattern.search(low):
            return level
    return default


TOC_RE = re.compile(r"\.{4,}|…{2,}")


def is_toc(line: Line) -> bool:
    """Table-of-contents lines ('Ekonomi.....\t5') look like rows but hold no content."""
    return bool(TOC_RE.search(line.clean))


def is_label_row(line: Line) -> bool:
    """A tab row of short labels only (a table header of any kind): no cell is a number or a sentence."""
    cells = [c for c in line.cells if c]
    return (line.is_row and len(cells) >= 2 and not is_toc(line)
            and all(len(c.split()) <= 6 and any(ch.isalpha() for ch in c) and not c.endswith(".") for c in cells)
            and not any(is_status_cell(c) for c in cells[1:]))


def item_columns(cells: list[str]) -> list[int]:
    """The columns of a header row that name items (Uppdrag, Nämndens åtgärd, Aktivitet ...), from the start of
    the row: after an optional short number column ("Nr", "Id"), one or more item columns in a row ("Mål |
    Aktivitet": the goal, then its activities)."""
    out: list[int] = []
    for k, cell in enumerate(cells[:4]):
        if ITEM_COLUMN_RE.search(cell) and len(cell.split()) <= 6 and not column_role(cell):
            out.append(k)
        elif out or not cell or len(cell.split()) > 2 or k >= 1:
            break
    return out


def item_column(cells: list[str]) -> int | None:
    """The column of a header row whose cells are the items: the last of its item columns (the earlier ones hold
    what the items belong to)."""
    cols = item_columns(cells)
    return cols[-1] if cols else None


def is_table_header(line: Line) -> bool:
    """A tab row of short column labels, one of the first two naming the items."""
    cells = [c for c in line.cells if c]
    if not line.is_row or len(cells) < 2 or is_toc(line):
        return False
    col = item_column(line.cells)
    if col is None:
        return False
    return all((COLUMN_LABEL_RE.match(c) or len(c.split()) <= 4) and any(ch.isalpha() for ch in c)
               and not (is_status_cell(c) and not column_role(c))  # a status value makes it a row, not a header
               for k, c in enumerate(line.cells) if k != col and c)


def column_role(label: str) -> str | None:
    """What a header cell says its column holds: status, progress, dates, responsible, comment (report_vocab)."""
    text = label.strip().lower().rstrip(":")
    for role in ("status", "progress", "dates", "responsible", "comment"):
        if any(text == w or text.startswith(w + " ") for w in _V["columns"][role]):
            return role
    return None


def spaced_header(line: Line) -> list[str] | None:
    """PDF text loses tabs: 'Uppdrag Status' or 'Nämndens åtgärd Aktiviteter på förvaltningen Status'."""
    text = line.clean.strip()
    if line.is_row or not text or len(text.split()) > 8:
        return None
    m = re.match(r"^(?P<item>.+?)\s+(?P<rest>(?:aktiviteter på förvaltningen\s+)?(?:status|bedömning))$", text, re.I)
    if not m or not ITEM_COLUMN_RE.search(m.group("item")) or len(m.group("item").split()) > 4:
        return None
    return [m.group("item")] + m.group("rest").split(maxsplit=3 if "aktiviteter" in m.group("rest").lower() else 0)


def looks_like_heading(line: Line) -> bool:
    """A short line standing alone: markdown heading, bold line, or a few capitalised words without a period."""
    text = line.clean.strip()
    if not text or line.is_row:
        return False
    if line.is_md_heading or line.is_bold_line:
        return True
    text = re.sub(r"^\d{1,2}(?:\.\d{1,2})*\.?\s+", "", text)
    return bool(text) and line.words <= 10 and text[0].isupper() and not text.endswith((".", ",", ":", ";")) and len(text) < 90


def goal_header(text: str) -> re.Match[str] | None:
    """A goal header, but not an all-caps section label such as 'NÄMNDMÅL' (that only names what follows)."""
    text = text.strip()
    return None if ALLCAPS_LABEL_RE.match(text) else GOAL_HEADER_RE.match(text)


def starts_with_verb(text: str) -> bool:
    """Action titles are imperatives or infinitives ('Inför ...', 'Minska ...'); activity paragraphs are not.

    Uses the Swedish lookup lemma table: an imperative's lemma is the word + 'a'; an infinitive ending in -a is
    the lemma of its present or past tense forms."""
    from nlp.swedish import lemma_table

    m = re.match(r"[A-Za-zÅÄÖåäöÉé]+", text.strip())
    if not m:
        return False
    w, t = m.group(0).lower(), lemma_table()
    if len(w) >= 5 and t.get(w) == w + "a":
        return True
    # verb forms only: a noun's genitive ('bilagas') would also point back to its base form
    forms = (w + "r", w[:-1] + "er", w + "de", w[:-1] + "de", w + "nde", w + "t", w + "des")
    return w.endswith("a") and len(w) >= 3 and any(t.get(f) == w for f in forms)




def strip_numbering(title: str) -> str:
    return re.sub(r"^\s*(?:[A-ZÅÄÖ ]{3,}\d{0,4}:\s*)?\d{1,2}(?:\.\d{1,2}){0,2}\s*[.:]?\s+", "", title or "")


def strip_keyword(title: str) -> str:
    """'Uppdrag 1: Frigöra tid ...' -> 'Frigöra tid ...'."""
    m = GROUP_HEADER_RE.match(title or "") or GOAL_HEADER_RE.match(title or "")
    return m.group("title") if m and m.group("title") else (title or "")
