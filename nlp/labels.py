"""Analyst labels: reading a labels folder (`cli.py train --labels DIR`, `cli.py eval`) and matching its items to
the units the segmenter found.

Labels enter the product only through an explicit command; nothing reads a labels folder by default. A folder
holds one `units_<report>.jsonl` per labelled report (one JSON object per item: doc, title, line, and any of
judged_status, themes, explicit_status, inconsistency ...), optionally `doc_<report>.json` with document-level
notes and `qrels_<report>.jsonl` with search judgements.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from errors import ToolError
from nlp.text import norm
from records import Unit

REQUIRED = {"doc": str, "title": str, "line": int}


class LabelError(ToolError):
    """A labels folder that cannot be used: missing, empty, or a file with a malformed line."""

    hint = "Inget tränades; sparade modeller är orörda."


@dataclass
class LabelledReport:
    doc: str
    units: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)  # doc_<report>.json
    qrels: list[dict[str, Any]] = field(default_factory=list)


def _jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a line that is not a JSON object is an error naming it."""
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LabelError(f"{path}: går inte att läsa ({e.__class__.__name__})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise LabelError(f"{path}:{number}: ogiltig JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise LabelError(f"{path}:{number}: raden är inte ett JSON-objekt")
        rows.append((number, row))
    return rows


def _check_unit(path: Path, number: int, row: dict[str, Any]) -> None:
    for key, kind in REQUIRED.items():
        value = row.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is str and not value.strip()):
            raise LabelError(f"{path}:{number}: fältet {key!r} saknas eller är inte {'ett heltal' if kind is int else 'text'}")
    themes = row.get("themes")
    if themes is not None and not (isinstance(themes, list) and all(isinstance(t, str) for t in themes)):
        raise LabelError(f"{path}:{number}: fältet 'themes' ska vara en lista med tema-id")
    for key in ("judged_status", "explicit_status", "level", "parent", "inconsistency"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise LabelError(f"{path}:{number}: fältet {key!r} ska vara text eller null")


def load_labels(folder: Path | str) -> dict[str, LabelledReport]:
    """{report file name: LabelledReport} for every units_<report>.jsonl in the folder, validated line by line."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LabelError(f"{folder}: etikettmappen finns inte")
    files = sorted(folder.glob("units_*.jsonl"))
    if not files:
        raise LabelError(f"{folder}: inga units_<rapport>.jsonl-filer i etikettmappen")
    out: dict[str, LabelledReport] = {}
    for path in files:
        numbered = _jsonl(path)
        if not numbered:
            raise LabelError(f"{path}: filen är tom")
        for number, row in numbered:
            _check_unit(path, number, row)
        units = [row for _, row in numbered]
        docs = {u["doc"] for u in units}
        if len(docs) != 1:
            raise LabelError(f"{path}: raderna gäller flera rapporter ({', '.join(sorted(docs))})")
        stem = path.stem[len("units_"):]
        info_path, qrels_path = folder / f"doc_{stem}.json", folder / f"qrels_{stem}.jsonl"
        info: dict[str, Any] = {}
        if info_path.exists():
            try:
                info = json.loads(info_path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise LabelError(f"{info_path}: ogiltig JSON ({e.__class__.__name__})") from None
        qrels = [row for _, row in _jsonl(qrels_path)] if qrels_path.exists() else []
        out[units[0]["doc"]] = LabelledReport(units[0]["doc"], units, info, qrels)
    return out


def fingerprint(folder: Path | str) -> str:
    """A short hash of the folder's label files, recorded with every model trained on them."""
    digest = hashlib.sha1()
    for path in sorted(Path(folder).glob("units_*.jsonl")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


norm_title = norm  # labels compare titles with the one normaliser



def titles_match(label_title: str, title: str) -> bool:
    """Label titles are the first 200 characters verbatim; ours may carry a numbering prefix or be longer."""
    g, t = norm_title(label_title), norm_title(title)
    if not g or not t:
        return False
    if g in t or t in g:
        return min(len(g), len(t)) >= 0.5 * max(len(g), min(len(t), 200)) or len(t) >= 15
    head = min(len(g), len(t), 120)
    return SequenceMatcher(None, g[:head], t[:head]).ratio() >= 0.8


def match_units(labelled: list[dict[str, Any]], units: list[Unit]) -> list[Unit | None]:
    """For each labelled item, the unit of ours that covers its line and whose title matches (each used once)."""
    used: set[str] = set()
    out: list[Unit | None] = []
    for g in labelled:
        candidates = [u for u in units if u.line_start <= g["line"] <= u.line_end and u.id not in used
                      and titles_match(g["title"], u.title)]
        # Prefer the tightest unit: a parent goal also covers its children's lines.
        best = min(candidates, key=lambda u: (u.line_end - u.line_start, abs((u.title_line or u.line_start) - g["line"])),
                   default=None)
        if best is not None:
            used.add(best.id)
        out.append(best)
    return out


# -- inconsistencies the analysts found, and whether a flag finds one -------------------------------------------------

LINE_TOLERANCE = 3  # a document-level problem is found by a flag whose line or evidence lies this close


@dataclass
class Problem:
    """An inconsistency an analyst noted: on an item (level "unit") or in the document (level "doc")."""

    doc: str
    level: str
    line: int
    what: str
    unit: Unit | None = None


def label_problems(report: LabelledReport, units: list[Unit]) -> list[Problem]:
    out = []
    for g, u in zip(report.units, match_units(report.units, units)):
        if g.get("inconsistency"):
            out.append(Problem(report.doc, "unit", g["line"], g["inconsistency"], u))
    for d in report.info.get("doc_inconsistencies", []):
        out.append(Problem(report.doc, "doc", int(d["line"]), d.get("what", "")))
    return out


def flag_lines(flag: Any) -> list[int]:
    return [x for x in [flag.line] + [e.get("line") for e in flag.evidence] if isinstance(x, int)]


def finds(flag: Any, problem: Problem) -> bool:
    """A unit problem is found by a flag on its unit or inside its lines (a gold item we did not segment, by a flag
    near its line); a document problem by a flag whose line or evidence line lies within LINE_TOLERANCE lines."""
    if problem.level == "unit" and problem.unit is not None:
        u = problem.unit
        return u.id in flag.unit_ids or (flag.line is not None and u.line_start <= flag.line <= u.line_end)
    return any(abs(ln - problem.line) <= LINE_TOLERANCE for ln in flag_lines(flag))
