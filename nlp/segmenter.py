"""Split a read report into passages (every paragraph and table row) and units (one per followed-up item).

Units are found from layout anchors, each recognised independently and then ordered:
- rows of item tables (a tab table whose first column names items: Uppdrag, Nämndens åtgärd, 1-årigt åtagande ...),
  also when PDF text lost the tabs ('Uppdrag Status' followed by wrapped title lines and 'Kommentar:');
- a title followed by a status or bedömning value ('Bedömning' / 'Delvis uppfyllt', 'Status' / 'Påbörjad');
- goal headers that carry their own commentary ('Fokusmål 1' + title + prose);
- KS-beslut lines.
A unit's commentary runs from its title to the next anchor or structural line (heading, table header, legend).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nlp import layout as L
from nlp.layout import Line
from records import Document, Passage, Segmentation, Unit

if TYPE_CHECKING:
    from nlp.profile import Profile

MAX_TITLE_WORDS = 60
PASSAGE_MAX_WORDS = 160
RANKS = {"inriktningsmål": 1, "verksamhetsmål": 2, "nämndmål": 3, "mål": 3, "delmål": 4, "uppdrag": 4,
         "särskilt uppdrag": 4, "uppdrag från nämnd": 4, "åtagande": 4, "ks-beslut": 4, "projekt": 4, "åtgärd": 5,
         "aktivitet": 5, "insats": 5}


@dataclass
class Anchor:
    """Where a unit starts, what it is called, and the status the layout gives it."""

    title_line: int
    first_line: int  # may precede title_line ('Inriktningsmål 1:' on the line above its title)
    title: str
    level: str
    status: str | None = None
    status_source: str | None = None
    status_line: int | None = None
    parent: str | None = None
    skip_lines: set[int] = field(default_factory=set)  # label/value lines that are not commentary
    title_end_line: int | None = None  # last line of a title wrapped over several lines
    extra_text: str = ""  # commentary that shares the title's line
    kind: str = ""
    progress: int | None = None


def segment(doc: Document, profile: "Profile | None" = None) -> Segmentation:
    """Units and passages of a document; a layout profile (nlp/profile.py) adds its template's words."""
    from nlp.profile import applied

    with applied(profile):
        return _segment(doc, profile)


def _segment(doc: Document, profile: "Profile | None") -> Segmentation:
    lines = [Line(i + 1, raw, clean) for i, (raw, clean) in enumerate(zip(doc.raw, doc.clean))]
    anchors = find_anchors(lines, profile)
    assign_parents(lines, anchors)
    units = build_units(lines, anchors, doc.file)
    link_units(units)
    passages = make_passages(lines, units, doc.file)
    attach_pages(doc, units, passages)
    templates: dict[str, list[int]] = {}
    for a in anchors:
        templates.setdefault(a.kind or "annat", []).append(a.title_line)
    notes = [f"layoutprofil: {profile.name} ({profile.path})"] if profile else []
    warning = coverage_note(doc, units) if units else None
    return Segmentation(passages=passages, units=units, templates=templates,
                        notes=notes + ([f"obs: {warning}"] if warning else []))


TEMPLATE_NAMES = {
    "row": "tabellrader", "factbox": "faktarutor (etikett | värde)", "record": "rubriker med status eller kommentar",
    "list": "uppräknade punkter med text", "assessed": "titel följd av status eller bedömning",
    "assessed+label": "titel med statusetikett", "commented": "numrerade poster med kommentar",
    "goal": "mål med egen text", "ks": "KS-beslut", "spaced": "tabellrader utan tabbar (PDF-text)",
    "profil": "layoutprofilens rubriker", "ledtext": "stycken med fetstilt titel",
}
COVERAGE_SHARE = 0.6  # warn when fewer items than this share of the report's stated statuses were found


def stated_statuses(doc: Document) -> int:
    """How many times the report states a status: a status cell beside a title, a "Status: Pågår" line, a value
    under a status label (legends left out). Each usually belongs to one item, so it bounds how many to expect."""
    lines = [Line(i + 1, raw, clean) for i, (raw, clean) in enumerate(zip(doc.raw, doc.clean))]
    count = 0
    for i, line in enumerate(lines):
        text = line.clean.strip()
        if not text:
            continue
        if line.is_row:
            cells = line.cells
            status = [k for k, c in enumerate(cells) if k and c and L.is_status_cell(c)]
            named = [c for k, c in enumerate(cells) if c and k not in status and len(c.split()) >= 2
                     and not L.is_label(c)]
            count += bool(status) and bool(named) and not L.colour_word(cells[0])
        elif L.STATUS_LABEL_RE.match(text):
            k = next_nonblank(lines, i, 3)
            count += k is not None and L.is_status_cell(lines[k].clean.strip())
        else:  # "Status: Pågår" on its own line or closing a paragraph ("... Status: klar.")
            count += sum(1 for m in L.STATUS_IN_TEXT_RE.finditer(text) if L.is_status_cell(m.group("value")))
    return count


def coverage_note(doc: Document, units: list[Unit]) -> str | None:
    """A warning when far fewer items were found than the report states statuses."""
    expected = stated_statuses(doc)
    if expected >= 5 and len(units) < COVERAGE_SHARE * expected:
        return (f"bara {len(units)} poster hittades men rapporten anger status {expected} gånger; kontrollera "
                f"med `python cli.py ingest --explain {doc.file}` eller skriv en layoutprofil (se layouts/)")
    return None


def text_places(doc: Document, units: list[Unit]) -> list[str]:
    """Pages (or, for text files, line ranges) with running text that no item covers."""
    covered = {k for u in units for k in range(u.line_start, u.line_end + 1)}
    if doc.pages:
        words: dict[int, int] = {}
        for k, (text, page) in enumerate(zip(doc.clean, doc.pages), start=1):
            if page and k not in covered:
                words[page] = words.get(page, 0) + len(text.split())
        return [str(p) for p, n in sorted(words.items()) if n >= 40]
    return [] if not doc.clean else [f"rad 1–{len(doc.clean)}"] if not covered else []


def attach_pages(doc: Document, units: list[Unit], passages: list[Passage]) -> None:
    """Pages of PDF and Word files: a unit starts on its title's page and ends on its last line's."""
    if not doc.pages:
        return
    for u in units:
        u.page_start = doc.page_of(u.title_line or u.line_start)
        u.page_end = max(filter(None, (doc.page_of(k) for k in range(u.line_start, u.line_end + 1))),
                         default=u.page_start)
    for p in passages:
        p.page_start, p.page_end = doc.page_of(p.line_start), doc.page_of(p.line_end)


# -- anchors -----------------------------------------------------------------------------------------
def find_anchors(lines: list[Line], profile: "Profile | None" = None) -> list[Anchor]:
    found: dict[int, Anchor] = {}
    skipped: set[int] = set()  # every found anchor's skip_lines, kept as one set so this stays linear
    finders = [fact_box_anchors, table_anchors, spaced_table_anchors, status_value_anchors, commented_item_anchors,
               goal_anchors, ks_anchors, record_anchors, list_anchors, lead_in_anchors]
    if profile is not None and profile.heading is not None:
        finders.insert(0, lambda ls: profile_anchors(ls, profile))
    for finder in finders:
        for a in finder(lines):
            # Earlier finders know more (table columns) than later ones; keep the first claim on a line.
            if a.title_line not in found and a.title_line not in skipped:
                found[a.title_line] = a
                skipped |= a.skip_lines
    return sorted(found.values(), key=lambda a: a.title_line)


def next_nonblank(lines: list[Line], i: int, limit: int = 8) -> int | None:
    """Index of the next line with text after index i, skipping markdown rules; None past `limit` lines."""
    for j in range(i + 1, min(len(lines), i + 1 + limit)):
        if not lines[j].is_blank:
            return j
    return None


def prev_nonblank(lines: list[Line], i: int, limit: int = 8) -> int | None:
    for j in range(i - 1, max(-1, i - 1 - limit), -1):
        if not lines[j].is_blank:
            return j
    return None


def split_title_cell(raw_cell: str, clean_cell: str) -> tuple[str, str]:
    """A cell of HTML paragraphs, the first being the title -> (title, rest); plain cells split at 'Kommentar:'."""
    m = re.match(r"\s*<p>(.*?)</p>(.*)$", raw_cell, re.S | re.I)
    if m and m.group(2).strip():
        from nlp.reader import clean_line

        return clean_line(m.group(1)), clean_line(m.group(2))
    k = re.search(r"\bKommentar\s*:", clean_cell)
    if k and k.start() > 0:
        return clean_cell[:k.start()].strip(), clean_cell[k.start():].strip()
    return clean_cell, ""


def table_anchors(lines: list[Line]) -> list[Anchor]:
    out: list[Anchor] = []
    header: list[str] | None = None
    level = "åtgärd"
    after_header = False
    previous: Line | None = None  # the line just above, blank or not
    parent: str | None = None  # the current value of a parent column ("Mål | Aktivitet | ...")
    for line in lines:
        above, previous = previous, line
        if line.is_blank:
            continue
        if L.is_table_header(line):
            col = L.item_column(line.cells) or 0
            header, level, after_header = line.cells, L.level_for(line.cells[col], "åtgärd") or "åtgärd", True
            parent = None
            continue
        if L.is_toc(line) or L.is_label_row(line):
            header = None  # another kind of table (amounts, indicators) begins
            continue
        if not line.is_row and header is not None and above is not None and above.is_row and not ends_table(line):
            # A row whose other cells are empty: printed or exported as text, trailing empty cells leave no tab.
            line = Line(line.number, line.raw + "\t", line.clean + "\t")
        if not line.is_row:
            if header is not None and ends_table(line):
                header = None
            continue
        directly_under_header, after_header = after_header, False
        cells = line.cells
        col = (L.item_column(header) or 0) if header else 0
        parent_cols = L.item_columns(header)[:-1] if header else []
        goal = next((cells[k] for k in parent_cols if k < len(cells) and cells[k]), None)
        if goal and is_title_text(goal):
            # A parent column's cell (merged down over its items) opens a goal: a record of its own when the row
            # assesses it, and the parent of the rows below.
            parent = goal
            if not (cells[col] if col < len(cells) else ""):
                status, status_col = row_status(cells, header)
                others = [c for k, c in enumerate(cells) if c and k > col and k != status_col]
                out.append(Anchor(line.number, line.number, goal, L.level_for(header[parent_cols[0]], "mål") or "mål",
                                  status, "column" if status else None, line.number if status else None,
                                  extra_text=" ".join(others), kind="row"))
                continue
        first = cells[col] if col < len(cells) else ""
        if not first or L.COMMENT_RE.match(first) or L.colour_word(cells[0]) or L.colour_word(first) \
                or first[0] in "•-–*·":
            continue  # continuation rows, comment rows, bullets and legends belong to what came before
        status, status_col = row_status(cells, header)
        if header is None and status is None:
            continue
        if L.GROUP_HEADER_RE.match(first) and not any(cells[1:]) and not directly_under_header:
            header = None  # 'Uppdrag 1: ...' above a table of åtgärder is a parent, not an item
            continue
        raw_cells = line.raw.split("\t")
        title, rest = split_title_cell(raw_cells[col] if col < len(raw_cells) else first, first)
        if not is_title_text(title):
            continue
        progress, progress_col = row_progress(cells, header)
        roles = [L.column_role(h) for h in header] if header else []
        others = [c for k, c in enumerate(cells) if c and k > col and k not in (status_col, progress_col)
                  and not looks_like_date(c) and (k >= len(roles) or roles[k] not in ("responsible", "dates"))]
        extra = " ".join([rest] + others).strip()
        row_level = level if header is not None else (L.level_for(title) or level)
        source = ("symbol" if not status[0].isalnum() else "column") if status else None
        out.append(Anchor(line.number, line.number, title, row_level, status, source,
                          line.number if status else None, extra_text=extra, kind="row", progress=progress,
                          parent=parent if parent_cols else None))
    return out


def ends_table(line: Line) -> bool:
    text = line.clean.strip()
    if L.COMMENT_RE.match(text):
        return False
    return (L.goal_header(text) is not None or L.GROUP_HEADER_RE.match(text) is not None
            or (L.looks_like_heading(line) and (line.is_md_heading or line.words <= 8)))


def row_status(cells: list[str], header: list[str] | None) -> tuple[str | None, int | None]:
    """The status column's value, else any later cell holding a status word or symbol."""
    if header:
        for k, name in enumerate(header):
            if k and re.match(r"^(status|bedömning)$", name.strip(), re.I) and k < len(cells) and cells[k]:
                return cells[k], k
    for k in range(len(cells) - 1, 0, -1):
        if cells[k] and L.is_status_cell(cells[k]):
            return cells[k], k
    return None, None


PROGRESS_COLUMN_RE = re.compile(r"^(?:färdiggrad|genomförandegrad|grad av genomförande|andel (?:klart|genomfört)|"
                                r"progress|uppfyllelsegrad)\b", re.I)
PERCENT_RE = re.compile(r"^(\d{1,3})\s*%$")


def row_progress(cells: list[str], header: list[str] | None) -> tuple[int | None, int | None]:
    """The percentage in a progress column (Färdiggrad, Genomförandegrad ...), as read from a cell or a bar."""
    for k, name in enumerate(header or []):
        if k and PROGRESS_COLUMN_RE.match(name.strip()) and k < len(cells):
            m = PERCENT_RE.match(cells[k].strip())
            if m and int(m.group(1)) <= 100:
                return int(m.group(1)), k
    return None, None


def looks_like_date(text: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()))


def is_title_text(text: str) -> bool:
    """Titles start with a capital or a number; a lowercase start is a row broken by a page break."""
    words = text.split()
    first_alnum = next((ch for ch in text if ch.isalnum()), "")
    return (1 <= len(words) <= MAX_TITLE_WORDS and any(ch.isalpha() for ch in text)
            and (first_alnum.isupper() or first_alnum.isdigit()) and not L.is_status_value(text)
            and not L.is_label(text))


def spaced_table_anchors(lines: list[Line]) -> list[Anchor]:
    """PDF text: 'Uppdrag Status' then the title over one or more lines, then 'Kommentar:'."""
    out: list[Anchor] = []
    for i, line in enumerate(lines):
        header = L.spaced_header(line)
        if not header:
            continue
        level = L.level_for(header[0], "uppdrag") or "uppdrag"
        j = next_nonblank(lines, i, 4)
        if j is None:
            continue
        title_lines, k = [], j
        while k < len(lines) and not lines[k].is_blank and not L.COMMENT_RE.match(lines[k].clean) \
                and len(title_lines) < 4:
            title_lines.append(lines[k])
            k += 1
        title = " ".join(t.clean for t in title_lines).strip()
        status = None
        m = re.search(r"\s(Uppdraget är \w+\.?)$", title)
        if m:
            title, status = title[:m.start()].strip(), m.group(1)
        if level == "åtgärd":
            out.extend(wrapped_action_anchors(lines, j))
            continue
        if is_title_text(title):
            out.append(Anchor(lines[j].number, lines[j].number, title, level, status,
                              "inline" if status else None, lines[j].number if status else None,
                              skip_lines={line.number}, kind="spaced", title_end_line=title_lines[-1].number))
    return out


def wrapped_action_anchors(lines: list[Line], start: int) -> list[Anchor]:
    """Åtgärd tables whose columns PDF text wrapped into paragraphs: an åtgärd is a short paragraph that opens
    with a verb in the imperative or infinitive ('Inför differentierade arbetsroller ...') and ends a sentence;
    the activity paragraphs after it describe what was done."""
    out: list[Anchor] = []
    i = start
    while i < len(lines):
        line = lines[i]
        text = line.clean.strip()
        if L.GROUP_HEADER_RE.match(text) or L.goal_header(text) or L.spaced_header(line) and i > start:
            break
        if line.is_blank:
            i += 1
            continue
        block = []
        k = i
        while k < len(lines) and not lines[k].is_blank:
            block.append(lines[k])
            k += 1
        joined = " ".join(" ".join(b.clean for b in block).split())
        first_sentence = re.split(r"(?<=\.)\s+(?=[A-ZÅÄÖ])", joined, maxsplit=1)[0]
        words = first_sentence.split()
        if (len(block) <= 5 and 3 <= len(words) <= 40 and first_sentence.endswith(".")
                and L.starts_with_verb(first_sentence) and not L.spaced_header(line)):
            out.append(Anchor(line.number, line.number, first_sentence, "åtgärd", kind="wrapped",
                              title_end_line=block[-1].number, extra_text=joined[len(first_sentence):].strip()))
        i = k
    return out


def status_value_anchors(lines: list[Line]) -> list[Anchor]:
    """A status/bedömning value alone on its line, its title found by walking back over labels and notes."""
    out: list[Anchor] = []
    for i, line in enumerate(lines):
        if line.is_row or not L.is_status_value(line.clean):
            continue
        skip = {line.number}
        j = prev_nonblank(lines, i, 6)
        label_on_title = False
        if j is not None and L.STATUS_LABEL_RE.match(lines[j].clean.strip()):
            skip.add(lines[j].number)
            j = prev_nonblank(lines, j, 6)
        if j is None:
            continue
        title_idx = pick_title_line(lines, j)
        if title_idx is None:
            continue
        tl = lines[title_idx]
        title = tl.clean.strip()
        if L.TRAILING_LABEL_RE.search(title):
            title, label_on_title = L.TRAILING_LABEL_RE.sub("", title).strip(), True
        first = tl.number
        g = L.goal_header(title)
        p = prev_nonblank(lines, title_idx, 3)
        if not (g and g.group("title")) and p is not None:
            pg = L.goal_header(lines[p].clean.strip())
            if pg and not pg.group("title").strip():
                # 'Inriktningsmål 1:' alone above its title line.
                title, first, g = f"{lines[p].clean.strip()} {title}", lines[p].number, pg
        level = level_of_title(lines, title_idx, title, bool(g))
        title = strip_prefix(title)
        if not is_title_text(title):
            continue
        out.append(Anchor(tl.number, first, title, level, line.clean.strip().strip("*").strip(), "column",
                          line.number, skip_lines=skip, kind="assessed" + ("+label" if label_on_title else "")))
    return out


def pick_title_line(lines: list[Line], j: int) -> int | None:
    """From the line above a status label, the title: a numbered or heading line within three lines (notes
    such as 'Motsvaras i ...' may stand between), else the line itself when it is short enough."""
    k, seen, under_label = j, 0, False
    while k is not None and seen < 3:
        text = lines[k].clean.strip()
        if L.NUMBERED_ITEM_RE.match(text) or lines[k].is_md_heading or lines[k].is_bold_line \
                or (L.goal_header(text) and k == j):
            return k if len(text.split()) <= MAX_TITLE_WORDS else None
        if L.is_status_value(text) or L.STATUS_LABEL_RE.match(text):
            return None  # another item's status: this value has no title of its own
        if L.goal_header(text) or L.ALLCAPS_LABEL_RE.match(text):
            under_label = True  # a goal header or section label above: the title is the line right under it
            break
        seen += 1
        k = prev_nonblank(lines, k, 4)
    text = lines[j].clean.strip()
    if len(text.split()) <= (MAX_TITLE_WORDS if under_label else 25) and not lines[j].is_row and not L.COMMENT_RE.match(text):
        return j
    return None


def level_of_title(lines: list[Line], idx: int, title: str, is_goal_header: bool) -> str:
    if is_goal_header or L.goal_header(title):
        return L.level_for(title, "mål") or "mål"
    context = section_context(lines, idx)
    if L.NUMBERED_ITEM_RE.match(title):
        return context if context and context not in L.GOAL_LEVELS else "uppdrag"
    return context if context in L.GOAL_LEVELS else "nämndmål"


def section_context(lines: list[Line], idx: int) -> str | None:
    """The level named by the nearest label, heading or table header above (e.g. 'UPPDRAG', '## Uppdrag')."""
    for k in range(idx - 1, max(-1, idx - 120), -1):
        line = lines[k]
        text = line.clean.strip()
        if not text:
            continue
        if L.is_table_header(line) or L.ALLCAPS_LABEL_RE.match(text) or line.is_md_heading:
            lvl = L.level_for(line.cells[0] if line.is_row else text)
            if lvl:
                return lvl
        g = L.goal_header(text)
        if g:
            # a child title under a goal header is the nämnd's own goal
            return "nämndmål" if RANKS.get(L.level_for(text) or "", 9) < 3 else L.level_for(text)
    return None


def strip_prefix(title: str) -> str:
    """Drop labels such as 'KVAR FRÅN 2018:' that precede an item's number."""
    return re.sub(r"^[A-ZÅÄÖ ]{3,}\d{0,4}:\s*(?=\d)", "", title).strip()


def commented_item_anchors(lines: list[Line]) -> list[Anchor]:
    """A numbered item followed shortly by 'Resultat:' / 'Kommentar:' / 'Utvärdering:' is followed up."""
    out: list[Anchor] = []
    for i, line in enumerate(lines):
        first = line.cells[0] if line.cells else ""
        m = L.NUMBERED_ITEM_RE.match(first)
        if not m or len(first.split()) > MAX_TITLE_WORDS:
            continue
        k, steps = i, 0
        while steps < 4:
            k = next_nonblank(lines, k, 6)
            if k is None or L.NUMBERED_ITEM_RE.match(lines[k].cells[0]) or is_structural(lines[k]):
                break
            if L.COMMENT_RE.match(lines[k].clean.strip()):
                status, _ = row_status(line.cells, None) if line.is_row else (None, None)
                source = ("symbol" if not status[0].isalnum() else "column") if status else None
                level = section_context(lines, i) or "uppdrag"
                out.append(Anchor(line.number, line.number, strip_prefix(first), level, status, source,
                                  line.number if status else None, kind="commented"))
                break
            steps += 1
    return out


def goal_anchors(lines: list[Line]) -> list[Anchor]:
    """'Fokusmål 1' + title + its own prose is an assessed goal; a header followed at once by items is a parent."""
    out: list[Anchor] = []
    for i, line in enumerate(lines):
        if line.is_row:
            continue
        g = L.goal_header(line.clean.strip())
        if not g:
            continue
        title, title_idx = line.clean.strip(), i
        if not g.group("title").strip():
            j = next_nonblank(lines, i, 4)
            if j is None or lines[j].is_row or lines[j].words > 20:
                continue
            title, title_idx = f"{title} {lines[j].clean.strip()}", j
        k = next_nonblank(lines, title_idx, 6)
        if k is None:
            continue
        nxt = lines[k]
        if nxt.is_row or L.looks_like_heading(nxt) or L.goal_header(nxt.clean) or nxt.words < 12 \
                or L.is_status_value(nxt.clean) or L.STATUS_LABEL_RE.match(nxt.clean.strip()):
            continue
        out.append(Anchor(lines[title_idx].number, line.number, title, L.level_for(title, "mål") or "mål",
                          kind="goal"))
    return out


# -- records: headings of one kind that repeat with a status or comment under them --------------------------------
HEADING_NUMBER_RE = re.compile(r"^(?P<num>\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(?P<title>\S.*)$")
MIN_RECORDS = 2  # a record template is a heading kind seen with evidence at least this often


@dataclass
class Heading:
    index: int
    key: str  # md1..md6 (a heading style), bold, num1..num4 (numbering depth)
    title: str
    status: str | None = None
    status_line: int | None = None
    skip: set[int] = field(default_factory=set)
    evidence: str | None = None  # "status" or "comment": what makes it look like an item
    body: bool = False  # running text of its own before the next heading or section label


def heading_key(line: Line) -> str | None:
    text = line.clean.strip()
    if not text or line.is_row or len(text.split()) > MAX_TITLE_WORDS or L.STATUS_LABEL_RE.match(text) \
            or L.COMMENT_RE.match(text) or L.STATUS_LINE_RE.match(text):
        return None
    goal = L.goal_header(text)
    if goal and not goal.group("title").strip():
        return None  # "Inriktningsmål 1:" alone: its title is the next line, and the goal finder joins them
    number = HEADING_NUMBER_RE.match(text)
    if line.is_md_heading:
        if number:
            return f"num{number.group('num').count('.') + 1}"
        return f"md{len(line.raw.lstrip()) - len(line.raw.lstrip().lstrip('#'))}"
    if line.is_bold_line or L.goal_header(text) or re.match(r"^(?:mål|delmål|nämndmål)\s*\d*\s*:", text, re.I):
        return "bold"
    item = L.ITEM_HEADING_RE.match(text)
    if item:
        return f"item{item.group('num').count('.') + 1}"
    return None


def evidence_under(lines: list[Line], i: int, h: Heading) -> None:
    """A status line ("Status: Pågår", or the label alone and the value below) or a comment label within the
    next few lines, before the next heading."""
    k = i
    for _ in range(3):
        k = next_nonblank(lines, k, 4)
        if k is None or heading_key(lines[k]) or L.ALLCAPS_LABEL_RE.match(lines[k].clean.strip()):
            return
        text = lines[k].clean.strip()
        m = L.STATUS_LINE_RE.match(text)
        if m and L.is_status_cell(m.group("value").rstrip(".")):
            h.status, h.status_line, h.evidence = m.group("value").rstrip(".").strip(), lines[k].number, "status"
            h.skip.add(lines[k].number)
            return
        if L.STATUS_LABEL_RE.match(text):
            v = next_nonblank(lines, k, 3)
            if v is not None and L.is_status_cell(lines[v].clean.strip()):
                h.status, h.status_line, h.evidence = lines[v].clean.strip(), lines[v].number, "status"
                h.skip |= {lines[k].number, lines[v].number}
            return
        if L.COMMENT_RE.match(text):
            h.evidence = "comment"
            return
        inside = next((s for s in L.STATUS_IN_TEXT_RE.finditer(text) if L.is_status_cell(s.group("value"))), None)
        if inside:  # a status sentence closing the heading's first paragraph ("... Status: klar.")
            h.status, h.status_line, h.evidence = inside.group("value").strip(), lines[k].number, "status"
            return


def record_anchors(lines: list[Line]) -> list[Anchor]:
    """Items as repeated records: a kind of heading (a style level, a numbering depth, bold lines) that is
    followed by a status line or a comment label is a record template when that happens at least twice; then
    every heading of that kind (for a numbering depth, every sibling) is an item. Parents are the records of a
    higher kind above."""
    heads: list[Heading] = []
    for i, line in enumerate(lines):
        key = heading_key(line)
        if key is None:
            continue
        h = Heading(i, key, line.clean.strip())
        evidence_under(lines, i, h)
        if not h.evidence:
            _, trailing = trailing_status(strip_prefix(h.title))
            if trailing:  # "2.3 Title – Pågår": the heading states its own status
                h.status, h.status_line, h.evidence = trailing, line.number, "status"
        k = next_nonblank(lines, i, 6)
        while k is not None and lines[k].number in h.skip | {ln.number for ln in lines[i + 1:k]}:
            k = next_nonblank(lines, k, 6)
        h.body = k is not None and heading_key(lines[k]) is None and not L.ALLCAPS_LABEL_RE.match(
            lines[k].clean.strip()) and not lines[k].is_row
        heads.append(h)
    by_key: dict[str, list[Heading]] = {}
    for h in heads:
        by_key.setdefault(h.key, []).append(h)
    chosen: set[int] = set()
    for key, group in by_key.items():
        evidenced = [h for h in group if h.evidence]
        numbered = key.startswith(("num", "item")) and len(group) >= 3
        if numbered or (len(evidenced) >= MIN_RECORDS and len(evidenced) >= 0.5 * len(group)):
            chosen |= {h.index for h in group}
        elif len(evidenced) >= MIN_RECORDS:
            # Headings of an item kind that carry no status of their own still name an action when they start
            # with a verb ("Utveckla ...", "Inför ..."); section headings are nouns ("Periodens avvikelse").
            chosen |= {h.index for h in group if h.evidence or (
                len(h.title.split()) >= 3 and L.starts_with_verb(L.strip_numbering(strip_prefix(h.title))))}
    order = ["md1", "num1", "md2", "num2", "bold", "item1", "md3", "num3", "item2", "md4", "num4", "item3", "md5",
             "md6"]
    chosen |= sibling_runs(heads, chosen, order)
    chosen |= parents_of_records(heads, chosen, order)
    out: list[Anchor] = []
    open_records: list[tuple[int, str]] = []  # (rank of the key, title) of the headings above
    for n, h in enumerate(heads):
        rank = order.index(h.key) if h.key in order else len(order)
        open_records = [r for r in open_records if r[0] < rank]
        title, trailing = trailing_status(strip_prefix(h.title))
        if trailing and not h.status:  # "2.3 Title – Pågår": the status closes the heading itself
            h.status, h.status_line = trailing, lines[h.index].number
        # A heading that only groups what follows (no status, no text of its own) is no item, but a heading
        # over records is their parent, item or not.
        if h.index not in chosen or not (h.evidence or h.body) or not is_record_title(title):
            if h.key in order and (h.body or h.evidence):
                open_records.append((rank, title))
            continue
        has_children = any(o.index in chosen and order.index(o.key) > rank
                           for o in heads[n + 1:n + 40] if o.key in order)
        level = L.level_for(title) or ("mål" if has_children else section_context(lines, h.index) or "åtgärd")
        parent = open_records[-1][1] if open_records else None
        out.append(Anchor(lines[h.index].number, lines[h.index].number, title, level, h.status,
                          "column" if h.status else None, h.status_line, parent=parent, skip_lines=h.skip,
                          kind="record"))
        open_records.append((rank, title))
    return out


def parents_of_records(heads: list[Heading], chosen: set[int], order: list[str]) -> set[int]:
    """A heading right above records of a deeper kind (the next heading is one of them), with a status or text of
    its own, is a goal record."""
    out: set[int] = set()
    for n, h in enumerate(heads):
        if h.index in chosen or h.key not in order or not (h.evidence or h.body) or n + 1 >= len(heads):
            continue
        nxt = heads[n + 1]
        if nxt.index in chosen and nxt.key in order and order.index(nxt.key) > order.index(h.key):
            out.add(h.index)
    return out


def sibling_runs(heads: list[Heading], chosen: set[int], order: list[str]) -> set[int]:
    """Headings of one kind under the same parent heading form a run; when most of a run are items, all are."""
    runs: list[list[Heading]] = []
    for h in heads:
        rank = order.index(h.key) if h.key in order else len(order)
        if runs and runs[-1][0].key == h.key:
            runs[-1].append(h)
        elif runs and (order.index(runs[-1][0].key) if runs[-1][0].key in order else len(order)) < rank:
            runs.append([h])  # a deeper heading kind: a new run under the last heading
        else:
            runs.append([h])
    out: set[int] = set()
    for run in runs:
        picked = sum(h.index in chosen for h in run)
        if len(run) >= 2 and picked >= 0.5 * len(run):
            out |= {h.index for h in run if h.body or h.evidence}
    return out


def is_record_title(title: str) -> bool:
    """A record's title: some letters, not too long, and more than a section label that only names a level
    ("Uppdrag från nämnd", "Särskilda uppdrag"); unlike a table cell it may start in lower case ("a) ...")."""
    words = title.split()
    if L.norm(title) in {L.norm(k) for k, _ in L.LEVEL_KEYWORDS}:
        return False
    return 1 <= len(words) <= MAX_TITLE_WORDS and sum(ch.isalpha() for ch in title) >= 3


# -- records laid out as label/value rows, and as an enumerated list -------------------------------------------
def fact_box_anchors(lines: list[Line]) -> list[Anchor]:
    """An item as a small table of label/value rows ("Aktivitet | <title>", "Status | Pågår",
    "Kommentar | ..."): a run of two-cell rows whose labels the vocabulary knows, one of them naming the item."""
    out: list[Anchor] = []
    i = 0
    while i < len(lines):
        run = []
        while i < len(lines) and lines[i].is_row and len([c for c in lines[i].cells if c]) == 2 \
                and L.is_label(lines[i].cells[0]):
            run.append(lines[i])
            i += 1
        i += 1 if not run else 0
        for box in split_boxes(run):
            titles = [r for r in box if L.ITEM_COLUMN_RE.fullmatch(r.cells[0].strip().rstrip(":"))]
            if len(box) < 2 or not titles:
                continue
            title_row = titles[0]
            status_row = next((r for r in box if L.STATUS_LABEL_RE.match(r.cells[0].strip())
                               and L.is_status_cell(r.cells[1])), None)
            level = L.level_for(title_row.cells[0], "åtgärd") or "åtgärd"
            out.append(Anchor(title_row.number, box[0].number, title_row.cells[1].strip(), level,
                              status_row.cells[1].strip() if status_row else None,
                              "column" if status_row else None, status_row.number if status_row else None,
                              skip_lines={title_row.number} | ({status_row.number} if status_row else set()),
                              kind="factbox"))
    return out


def split_boxes(run: list[Line]) -> list[list[Line]]:
    """Fact boxes printed one under another can read as one table: a repeated first label starts a new box."""
    boxes: list[list[Line]] = []
    for row in run:
        label = L.norm(row.cells[0])
        if not boxes or label == L.norm(boxes[-1][0].cells[0]):
            boxes.append([row])
        else:
            boxes[-1].append(row)
    return boxes


LIST_ITEM_RE = re.compile(r"^(?P<mark>[a-zåäö]|\d{1,2})\)\s+(?P<title>\S.*)$")
TRAILING_STATUS_RE = re.compile(r"^(?P<title>.+?)\s*(?:\((?P<p>[^()]{2,40})\)|\s[–-]\s(?P<d>[^–-]{2,40}))$")


def trailing_status(title: str) -> tuple[str, str | None]:
    """'Title (pågår)' or 'Title – Klar' -> (title, status) when the tail is a status value."""
    m = TRAILING_STATUS_RE.match(title.strip())
    if m:
        tail = (m.group("p") or m.group("d") or "").strip().rstrip(".")
        if L.is_status_cell(tail):
            return m.group("title").strip(), tail
    return title.strip(), None


def list_anchors(lines: list[Line]) -> list[Anchor]:
    """An enumerated list of items ("a) ...", "b) ...", or "1) ...") where each entry has text of its own under
    it: at least two such entries in a row make the list a record template."""
    entries = []
    for i, line in enumerate(lines):
        m = LIST_ITEM_RE.match(line.clean.strip()) if not line.is_row else None
        if not m:
            continue
        k = next_nonblank(lines, i, 3)
        has_body = k is not None and not LIST_ITEM_RE.match(lines[k].clean.strip()) and not lines[k].is_row \
            and lines[k].words >= 4
        entries.append((i, m, has_body))
    out: list[Anchor] = []
    for n, (i, m, has_body) in enumerate(entries):
        sibling = any(abs(entries[j][0] - i) <= 40 and entries[j][2] for j in (n - 1, n + 1) if 0 <= j < len(entries))
        if not has_body or not sibling:
            continue
        title, status = trailing_status(m.group("title"))
        if not is_record_title(title):
            continue
        out.append(Anchor(lines[i].number, lines[i].number, title, section_context(lines, i) or "åtgärd", status,
                          "column" if status else None, lines[i].number if status else None, kind="list"))
    return out


def profile_anchors(lines: list[Line], profile: "Profile") -> list[Anchor]:
    """Lines a layout profile names as item titles (its `heading` pattern), with a status on the line after."""
    out: list[Anchor] = []
    for i, line in enumerate(lines):
        if line.is_row or not profile.heading.search(line.clean.strip()):
            continue
        h = Heading(i, "profile", line.clean.strip())
        evidence_under(lines, i, h)
        out.append(Anchor(line.number, line.number, line.clean.strip(), profile.level, h.status,
                          "column" if h.status else None, h.status_line, skip_lines=h.skip, kind="profil"))
    return out


LEAD_IN_RE = re.compile(r"^\*\*(?P<lead>[^*]{3,300}?)\*\*\s*(?P<rest>\S.*)$")


def lead_in_anchors(lines: list[Line]) -> list[Anchor]:
    """Items as paragraphs led by their title in bold ("**Inför läxhjälp.** Läxhjälpen startade ... Status:
    klar."): at least two such paragraphs make the template; the status is a status sentence inside."""
    found = [(line, m) for line in lines if not line.is_row and (m := LEAD_IN_RE.match(line.raw.strip()))]
    if len(found) < MIN_RECORDS:
        return []
    out: list[Anchor] = []
    for line, m in found:
        title = m.group("lead").strip().rstrip(".:").strip()
        if not is_record_title(title) or L.is_label(title):
            continue
        status = next((s.group("value").strip() for s in L.STATUS_IN_TEXT_RE.finditer(m.group("rest"))
                       if L.is_status_cell(s.group("value"))), None)
        out.append(Anchor(line.number, line.number, title, section_context(lines, line.number - 1) or "åtgärd",
                          status, "inline" if status else None, line.number if status else None,
                          extra_text=re.sub(r"[*_]{2}", "", m.group("rest")).strip(), kind="ledtext"))
    return out


def ks_anchors(lines: list[Line]) -> list[Anchor]:
    return [Anchor(line.number, line.number, line.clean.strip(), "ks-beslut", kind="ks")
            for line in lines if L.KS_DECISION_RE.match(line.clean.strip()) and line.words <= MAX_TITLE_WORDS]


# -- parents -----------------------------------------------------------------------------------------
def assign_parents(lines: list[Line], anchors: list[Anchor]) -> None:
    """Walk the report once, keeping a stack of open goal and group headers by rank."""
    by_line = {a.title_line: a for a in anchors}
    stack: list[tuple[int, str]] = []  # (rank, title)
    for i, line in enumerate(lines):
        text = line.clean.strip()
        if not text:
            continue
        header = header_on_line(lines, i)
        if header:
            rank, title = header
            stack = [s for s in stack if s[0] < rank] + [(rank, title)]
        elif resets_parents(line):
            stack = []
        a = by_line.get(line.number)
        if a is None:
            continue
        own = RANKS.get(a.level, 5)
        if not a.parent:  # records and rows under a parent column know their parent already
            candidates = [t for r, t in stack if r < own and L.norm(t) != L.norm(a.title)]
            a.parent = candidates[-1] if candidates else None
        if a.kind == "record" and own < RANKS["åtgärd"]:
            stack = [s for s in stack if s[0] < own] + [(own, a.title)]  # a goal record heads what follows


def resets_parents(line: Line) -> bool:
    """A top-level heading (a markdown '##' heading, a section title in capitals or alone) closes the goals above."""
    text = line.clean.strip()
    if line.is_row or L.spaced_header(line) or L.ALLCAPS_LABEL_RE.match(text):
        return False
    if line.is_md_heading:
        return line.raw.lstrip().startswith("#") and not line.raw.lstrip().startswith("###")
    return L.looks_like_heading(line) and L.level_for(text) is not None and line.words <= 8


def header_on_line(lines: list[Line], i: int) -> tuple[int, str] | None:
    line = lines[i]
    text = line.cells[0] if line.is_row else line.clean.strip()
    if line.is_row and any(c and not L.is_status_cell(c) for c in line.cells[1:]):
        return None  # a goal row may carry its own assessment, nothing else
    g = L.goal_header(text)
    if g:
        title = text
        if not g.group("title").strip():
            j = next_nonblank(lines, i, 4)
            if j is not None and not lines[j].is_row and lines[j].words <= 20:
                title = f"{text} {lines[j].clean.strip()}"
        lvl = L.level_for(text, "mål") or "mål"
        return RANKS.get(lvl, 3), title
    gh = L.GROUP_HEADER_RE.match(text)
    if gh:
        return RANKS.get(L.level_for(gh.group("kw"), "uppdrag") or "uppdrag", 4), text
    return None


# -- units -------------------------------------------------------------------------------------------
def build_units(lines: list[Line], anchors: list[Anchor], doc: str) -> list[Unit]:
    units: list[Unit] = []
    seen: dict[str, int] = {}
    starts = {a.first_line for a in anchors} | {a.title_line for a in anchors}
    first_header: dict[str, int] = {}
    for k, line in enumerate(lines, start=1):
        if L.is_table_header(line):
            first_header.setdefault(line.clean.strip(), k)
    for n, a in enumerate(anchors):
        end = unit_end(lines, a, anchors[n + 1].first_line if n + 1 < len(anchors) else len(lines) + 1, starts,
                       first_header)
        body = paragraphs([lines[k - 1] for k in range((a.title_end_line or a.title_line) + 1, end + 1)
                           if k not in a.skip_lines and not repeated_header(lines[k - 1], k, first_header)])
        text = "\n".join(([a.extra_text] if a.extra_text else []) + body).strip()
        units.append(Unit(
            id=unit_id(doc, a.level, a.title, seen), doc=doc, seq=n, level=a.level, title=a.title, text=text,
            line_start=a.first_line, line_end=max(end, a.title_line, a.status_line or 0), parent=a.parent,
            explicit_status=a.status, explicit_status_source=a.status_source, explicit_status_line=a.status_line,
            title_line=a.title_line, progress=a.progress,
        ))
    return units


def paragraphs(body: list[Line]) -> list[str]:
    """Lines of one paragraph (PDF wrapping) joined by spaces; paragraphs and table rows stay apart."""
    out: list[str] = []
    joinable = False
    for line in body:
        if line.is_blank:
            joinable = False
            continue
        if joinable and not line.is_row and not L.COMMENT_RE.match(line.clean.strip()):
            out[-1] = f"{out[-1]} {line.text}"
        else:
            out.append(line.text)
        joinable = not line.is_row
    return out


def unit_end(lines: list[Line], a: Anchor, next_start: int, starts: set[int],
             first_header: dict[str, int] | None = None) -> int:
    """Last line of a unit's commentary: before the next anchor or the next structural line."""
    end = a.title_line
    for k in range(a.title_line + 1, next_start):
        line = lines[k - 1]
        if line.is_blank or k in a.skip_lines:
            continue
        if repeated_header(line, k, first_header):
            continue
        alone = k >= len(lines) or lines[k].is_blank  # a wrapped PDF line is no heading
        # Lines before the item's own status value belong to the item ("Tidigare 3.14" above "Status / Påbörjad").
        if is_structural(line, alone) and k not in starts and not (a.status_line and k < a.status_line):
            break
        end = k
    return end


def repeated_header(line: Line, k: int, first_header: dict[str, int] | None) -> bool:
    """A table header seen earlier in the report: a page break's repeat, not a new section, so an item's
    commentary goes on after it."""
    return bool(first_header) and first_header.get(line.clean.strip(), k) < k and L.is_table_header(line)


def is_structural(line: Line, alone: bool = True) -> bool:
    text = line.clean.strip()
    if L.COMMENT_RE.match(text):
        return False
    if L.is_table_header(line) or L.spaced_header(line) or L.ALLCAPS_LABEL_RE.match(text):
        return True
    if L.goal_header(text) or L.GROUP_HEADER_RE.match(text):
        return True
    if line.is_row and L.colour_word(line.cells[0]):
        return True
    if re.match(r"^bilaga\s+\d+\b", text, re.I):
        return True
    return L.looks_like_heading(line) and (line.is_md_heading or line.is_bold_line or (line.words <= 8 and alone))


def unit_id(doc: str, level: str, title: str, seen: dict[str, int]) -> str:
    """Stable: report key + level + normalised title (+ occurrence), so re-ingest gives the same ids. The key is
    the whole file name, so rapport.txt and rapport.md never share an id."""
    key = f"{level}|{L.norm(title)}"
    seen[key] = seen.get(key, 0) + 1
    digest = hashlib.sha1(f"{key}|{seen[key]}".encode()).hexdigest()[:10]
    return f"{doc}#u{digest}"


def link_units(units: list[Unit]) -> None:
    """The same item followed up twice in one report (overview and table) gets linked both ways; a unit whose
    parent title names another unit gets that unit as parent_id."""
    by_title: dict[str, list[Unit]] = {}
    for u in units:
        by_title.setdefault(L.norm(L.strip_numbering(u.title)), []).append(u)
    for group in by_title.values():
        if len(group) == 2:
            group[0].linked_unit_id, group[1].linked_unit_id = group[1].id, group[0].id
    # Keys computed once per unit (not once per pair), so linking stays linear in the number of units.
    by_key: dict[str, list[Unit]] = {}
    for o in units:
        by_key.setdefault(L.norm(L.strip_numbering(L.strip_keyword(o.title))), []).append(o)
    for u in units:
        if u.parent:
            key = L.norm(L.strip_numbering(L.strip_keyword(u.parent)))
            match = next((o for o in by_key.get(key, []) if o is not u), None) if key else None
            u.parent_id = match.id if match else None


# -- passages ----------------------------------------------------------------------------------------
def make_passages(lines: list[Line], units: list[Unit], doc: str) -> list[Passage]:
    """Every paragraph (block of non-blank lines) and every table row, long ones split at line or word
    boundaries; each keeps its source line range and the unit it lies in."""
    owner: dict[int, Unit] = {}
    for u in units:
        for k in range(u.line_start, u.line_end + 1):
            owner.setdefault(k, u)
    passages: list[Passage] = []
    heading: str | None = None
    block: list[Line] = []
    per_start: dict[int, int] = {}  # passages so far per first line (a count, not a scan: linear in the report)

    def flush() -> None:
        for start, end, text in chunk_block(block):
            u = owner.get(start) or owner.get(end)
            n = per_start.get(start, 0)
            per_start[start] = n + 1
            pid = f"{doc}#p{start}-{end}" + (f".{n}" if n else "")
            passages.append(Passage(id=pid, doc=doc, seq=len(passages), heading=(u.title if u else heading),
                                    text=text, line_start=start, line_end=end, unit_id=u.id if u else None))
        block.clear()

    for line in lines:
        if line.is_blank:
            flush()
            continue
        if line.is_row:
            flush()
            block.append(line)
            flush()
            continue
        if L.looks_like_heading(line) and line.words <= 12:
            flush()
            heading = line.clean.strip()
        block.append(line)
    flush()
    return passages


def chunk_block(block: list[Line]) -> list[tuple[int, int, str]]:
    """Split a block into pieces of at most PASSAGE_MAX_WORDS words; a single long line is split by words."""
    out: list[tuple[int, int, str]] = []
    cur: list[Line] = []
    count = 0
    for line in block:
        w = len(line.text.split())
        if cur and count + w > PASSAGE_MAX_WORDS:
            out.append((cur[0].number, cur[-1].number, " ".join(x.text for x in cur)))
            cur, count = [], 0
        cur.append(line)
        count += w
    if cur:
        out.append((cur[0].number, cur[-1].number, " ".join(x.text for x in cur)))
    final: list[tuple[int, int, str]] = []
    for start, end, text in out:
        words = text.split()
        if len(words) <= PASSAGE_MAX_WORDS * 1.5:
            final.append((start, end, text))
            continue
        for i in range(0, len(words), PASSAGE_MAX_WORDS):
            final.append((start, end, " ".join(words[i:i + PASSAGE_MAX_WORDS])))
    return final
