"""Small named result types shared by every layer (reader -> segmenter -> store -> indexes -> CLI/app)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ReportMeta:
    """Who wrote a report and when; detected from text, overridable by manifest or CLI flags."""

    file: str
    kommun: str | None = None
    namnd: str | None = None
    year: int | None = None
    period: str | None = None
    report_date: str | None = None  # ISO date, the decision or signing date when known
    source: str | None = None


@dataclass
class Document:
    """A report read into lines. `raw` are the stored file's lines; `clean` the same lines without markup.

    Both lists have the same length, so clean line i (0-based) maps to source line i + 1.
    """

    file: str
    raw: list[str]
    clean: list[str]
    sha256: str
    fmt: str  # txt, md, pdf, docx
    pages: list[int | None] = field(default_factory=list)  # page of each line (PDF, Word); empty for text files
    colour_cells: dict[int, list[str]] = field(default_factory=dict)  # line -> colour words read from colours
    furniture: list[str] = field(default_factory=list)  # page headers and footers, kept out of the lines

    def line(self, number: int) -> str:
        """Clean text of a 1-based line number."""
        return self.clean[number - 1]

    def page_of(self, number: int) -> int | None:
        """The page a 1-based line stands on, or None (text files)."""
        return self.pages[number - 1] if 0 < number <= len(self.pages) else None


@dataclass
class Passage:
    """A paragraph or table row of a report, the unit of search."""

    id: str
    doc: str
    seq: int
    heading: str | None
    text: str
    line_start: int
    line_end: int
    unit_id: str | None = None
    themes: list[dict[str, Any]] = field(default_factory=list)
    page_start: int | None = None  # 1-based pages for PDF and Word; None for text files (lines are the citation)
    page_end: int | None = None


@dataclass
class Unit:
    """One followed-up item (åtgärd, uppdrag, nämndmål, ...) with its commentary and stated status."""

    id: str
    doc: str
    seq: int
    level: str
    title: str
    text: str
    line_start: int
    line_end: int
    parent: str | None = None
    parent_id: str | None = None
    explicit_status: str | None = None
    explicit_status_source: str | None = None  # column, symbol, summary, inline
    explicit_status_line: int | None = None
    status: str | None = None  # canonical value of explicit_status
    linked_unit_id: str | None = None  # the same item followed up elsewhere in the report
    suggested_status: str | None = None
    status_confidence: float | None = None
    status_probs: dict[str, float] | None = None
    status_evidence: list[dict[str, Any]] = field(default_factory=list)
    status_note: str | None = None
    themes: list[dict[str, Any]] = field(default_factory=list)
    title_line: int | None = None
    page_start: int | None = None  # 1-based pages for PDF and Word; None for text files
    page_end: int | None = None
    progress: int | None = None  # stated färdiggrad in percent (a progress column, cell or bar)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Segmentation:
    """What the segmenter makes of one document."""

    passages: list[Passage]
    units: list[Unit]
    legend: dict[str, str] = field(default_factory=dict)  # colour/word -> canonical status, read from the report
    notes: list[str] = field(default_factory=list)
    templates: dict[str, list[int]] = field(default_factory=dict)  # record template -> title lines of its items


@dataclass
class Hit:
    """One search result."""

    passage_id: str
    unit_id: str | None
    doc: str
    kommun: str | None
    namnd: str | None
    year: int | None
    title: str | None
    line_start: int
    line_end: int
    snippet: str
    score: float
    lexical_rank: int | None
    dense_rank: int | None
    matched_terms: list[dict[str, Any]] = field(default_factory=list)
    level: str | None = None
    status: str | None = None
    suggested_status: str | None = None
    themes: list[str] = field(default_factory=list)
    page_start: int | None = None
    page_end: int | None = None
    matched_by: list[str] = field(default_factory=list)  # "bm25" (a query word or its part), "dense" (meaning)
    similarity: float | None = None  # how far the passage's meaning stands out for this query (z; dense only)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Flag:
    """A possible inconsistency for a reviewer to confirm or dismiss."""

    id: str
    kind: str
    doc: str
    unit_ids: list[str]
    line: int | None
    severity: str  # hög, medel, låg
    score: float
    message: str
    evidence: list[dict[str, Any]] = field(default_factory=list)  # [{"line": int, "quote": str}]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Decision:
    """A reviewer's accept / correct / skip / confirm / dismiss on a unit's status or a flag."""

    target_type: str  # unit_status or flag
    target_id: str
    doc: str | None
    reviewer: str
    action: str  # accept, correct, skip, confirm, dismiss, undo
    old_value: str | None = None
    new_value: str | None = None
    comment: str | None = None
    id: int | None = None
    created_at: str | None = None
    undone: bool = False
    # For a flag: the kind of case it was (nlp.flag_feedback.case_key), kept with the decision so the feedback it
    # gives does not depend on the flag still being in the flags table after a recompute.
    flag_case: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
