"""The status vocabulary: canonical status values, stated words -> canonical value (nlp/status_map.toml with its
shared word lists), and a report's own legend of colours and symbols.

Every stage that needs to know what a status word means reads it here: the segmenter (is this cell a status?),
ingest (what does the stated status mean?), the classifier and the flags.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nlp.text import norm  # noqa: F401 - the one normaliser, used here and re-exported

HERE = Path(__file__).resolve().parent
MAP_PATH = HERE / "status_map.toml"

CANONICAL = ("genomförd", "enligt plan", "försenad", "ej påbörjad", "stoppad")


# ------------------------------------------------------------------------------------------------------------------
# Normalisation and the mapping table
# ------------------------------------------------------------------------------------------------------------------



@dataclass(frozen=True)
class StatusMap:
    colours: dict[str, str]  # inflected colour word -> legend key
    symbols: dict[str, str]
    exact: dict[str, str]
    phrases: tuple[tuple[re.Pattern[str], str], ...]
    first: tuple[tuple[re.Pattern[str], str], ...]  # phrases with their own negation, tried before the negation step
    words: dict[str, str]  # word list name -> regex alternation of its entries (longest first)
    negated: dict[str, str]


def alternation(entries: list[str]) -> str:
    """A regex alternation of word-list entries, longest first so "ännu inte" wins over "inte"."""
    return "|".join(sorted(entries, key=len, reverse=True))


def expand(pattern: str, words: dict[str, str]) -> str:
    """Fill {name} placeholders with the word list's alternation (regex braces like {2,3} are left alone)."""
    return re.sub(r"\{([a-z_]+)\}", lambda m: f"(?:{words[m.group(1)]})" if m.group(1) in words else m.group(0),
                  pattern)


@lru_cache(maxsize=4)
def load_map(path: Path = MAP_PATH) -> StatusMap:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    values = set(data.get("canonical", CANONICAL))
    words = {name: alternation(entries) for name, entries in data.get("words", {}).items()}
    tables = ([data.get("symbols", {}), data.get("exact", {}), data.get("negated", {})]
              + [{p["pattern"]: p["status"]} for p in data["phrase"]])
    bad = {v for t in tables for v in t.values()} - values
    if bad:
        raise ValueError(f"{path}: unknown canonical status {sorted(bad)}")
    return StatusMap(
        colours={norm(k): v for k, v in data.get("colours", {}).items()},
        symbols=dict(data.get("symbols", {})),
        exact={norm(k): v for k, v in data.get("exact", {}).items()},
        phrases=tuple((re.compile(expand(p["pattern"], words)), p["status"]) for p in data.get("phrase", [])),
        first=tuple((re.compile(expand(p["pattern"], words)), p["status"]) for p in data.get("phrase", [])
                    if p.get("first")),
        words=words,
        negated=dict(data.get("negated", {})),
    )


def legend_key(word: str) -> str:
    """The key a legend entry is stored under: colours by their base form, symbols as is, words normalised."""
    n = norm(word)
    if not n:
        return word.strip()
    return load_map().colours.get(n, n)


@lru_cache(maxsize=1)
def _negation_pattern() -> re.Pattern[str]:
    w = load_map().words
    return re.compile(rf"\b(?:{w['negation']})\b(?:\s+(?:{w['intensifier']})\b)*\s+(?P<rest>.+)$")


@lru_cache(maxsize=1)
def _start_verb() -> re.Pattern[str]:
    return re.compile(rf"^(?:har\s+|är\s+)?(?:{load_map().words['start_verb']})\b")


def _negated_status(n: str) -> str | None:
    """'ej genomförd' -> försenad, 'inte enligt plan' -> försenad, 'har inte påbörjats' -> ej påbörjad."""
    m = _negation_pattern().search(n)
    if not m:
        return None
    rest = m.group("rest")
    if _start_verb().match(rest):
        return "ej påbörjad"
    table = load_map()
    plain = table.exact.get(rest) or next((s for p, s in table.phrases if p.search(rest)), None)
    return table.negated.get(plain) if plain else None


def canonical_status(stated: str | None, legend: dict[str, str] | None = None) -> str | None:
    """The canonical value of a stated status, or None when the words are not a status we know.

    The report's own legend wins over the general table (a report may use yellow for something else).
    """
    if not stated or not stated.strip():
        return None
    table = load_map()
    raw = stated.strip()
    n = norm(raw)
    if legend:
        for key in (raw, legend_key(raw), n):
            if key in legend:
                return legend[key]
    if raw in table.symbols:
        return table.symbols[raw]
    if not n:
        return None
    if n in table.exact:
        return table.exact[n]
    for pattern, status in table.first:
        if pattern.search(n):
            return status
    negated = _negated_status(n)
    if negated:
        return negated
    for pattern, status in table.phrases:
        if pattern.search(n):
            return status
    return None


# ------------------------------------------------------------------------------------------------------------------
# A report's own legend
# ------------------------------------------------------------------------------------------------------------------

_SEP = r"\s*(?:\t|[:–—]|\s-\s|\s)\s*"
_LEGEND_HEADER = re.compile(r"^\s*(symbol|färg|status)\s*\t\s*(innebörd|betydelse|förklaring)\s*$", re.I)


def _colour_pattern() -> re.Pattern[str]:
    words = sorted(load_map().colours, key=len, reverse=True)
    return re.compile(r"(?<![\wåäö])(" + "|".join(map(re.escape, words)) + r")(?![\wåäö])", re.I)


def _is_colour_only(line: str) -> str | None:
    n = norm(line)
    return load_map().colours.get(n) if n else None


def _same_line_pairs(line: str) -> dict[str, str]:
    """'Blått<TAB>Åtgärden är genomförd' or 'Blått — genomförd, Grönt — enligt plan, ...' on one line."""
    out: dict[str, str] = {}
    matches = list(_colour_pattern().finditer(line))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        rest = line[m.end():end]
        sep = re.match(_SEP, rest)
        # Only a colour that *starts* an entry and is followed by a separator defines something ("grönt ljus" does not).
        if not sep or not (m.start() == 0 or re.search(r"[,;:.\t]\s*$|^\s*$", line[:m.start()])):
            continue
        meaning = rest[sep.end():].strip(" ,;.")
        status = canonical_status(meaning) if len(norm(meaning).split()) >= 1 else None
        if status and norm(meaning) not in load_map().colours:
            out[legend_key(m.group(1))] = status
    return out


def _split_layout(lines: list[str], i: int) -> tuple[dict[str, str], int]:
    """Meanings listed first and the colours after them (PDF text of a two-column legend): pair them in order."""
    colours: list[str] = []
    j = i
    while j < len(lines) and (not lines[j].strip() or _is_colour_only(lines[j])):
        if lines[j].strip():
            colours.append(_is_colour_only(lines[j]))  # type: ignore[arg-type]
        j += 1
    if len(colours) < 2:
        return {}, i + 1
    # The nearest block (blank lines allowed) of exactly as many lines that each read as a status, within
    # 120 lines before: commentary sentences that happen to name a status form blocks of other sizes.
    blocks: list[list[str]] = [[]]
    for k in range(i - 1, max(-1, i - 121), -1):
        text = lines[k].strip()
        if not text:
            continue
        status = canonical_status(text) if len(text) <= 120 and not _is_colour_only(text) else None
        if status:
            blocks[-1].append(status)
        elif blocks[-1]:
            blocks.append([])
    meanings = next((b for b in blocks if len(b) == len(colours)), [])
    if not meanings:
        return {}, j
    return dict(zip(colours, reversed(meanings))), j


def _symbol_table(lines: list[str], i: int) -> dict[str, str]:
    """'Symbol<TAB>Innebörd' followed by rows; when the symbol was lost in conversion, the words are the key."""
    out: dict[str, str] = {}
    for line in lines[i + 1:i + 12]:
        if not line.strip():
            break
        symbol, _, meaning = line.partition("\t")
        status = canonical_status(meaning)
        if not status:
            continue
        out[legend_key(symbol) if symbol.strip() else legend_key(meaning)] = status
    return out


def read_legend(lines: list[str]) -> dict[str, str]:
    """Colour / symbol / word -> canonical status, as the report itself defines it. The first definition wins."""
    legend: dict[str, str] = {}

    def add(found: dict[str, str]) -> None:
        for k, v in found.items():
            legend.setdefault(k, v)

    i = 0
    while i < len(lines):
        line = lines[i] or ""
        if _LEGEND_HEADER.match(line):
            add(_symbol_table(lines, i))
        elif _is_colour_only(line):
            found, nxt = _split_layout(lines, i)
            add(found)
            i = max(nxt, i + 1)
            continue
        elif len(line) < 400 and _colour_pattern().search(line):
            add(_same_line_pairs(line))
        i += 1
    return legend
