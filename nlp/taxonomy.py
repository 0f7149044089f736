"""The readable theme taxonomy (nlp/themes.toml): load and check it. A vocabulary, read by the theme classifier
(nlp/themes.py), by search filters and by the app; it holds no model."""
from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from errors import ToolError

TAXONOMY_PATH = Path(__file__).resolve().parent / "themes.toml"


class TaxonomyError(ToolError):
    """The taxonomy file cannot be used (syntax error, missing field, duplicate id)."""


@dataclass(frozen=True)
class Theme:
    id: str
    label: str
    definition: str
    phrases: tuple[str, ...] = ()

    def description(self) -> str:
        """The text embedded to represent the theme as a whole."""
        return f"{self.label}: {' '.join(self.definition.split())}"

    def fingerprint(self) -> str:
        """Changes when anything the classifier reads from the theme changes (saved weights record it)."""
        raw = json.dumps([self.id, self.label, self.definition, list(self.phrases)], ensure_ascii=False)
        return hashlib.sha1(raw.encode()).hexdigest()[:16]


_ID = re.compile(r"^[a-z0-9_]+$")


def load_taxonomy(path: Path | str | None = None) -> list[Theme]:
    """Themes in file order. Raises TaxonomyError with a Swedish message naming the problem."""
    path = Path(path) if path else TAXONOMY_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaxonomyError(f"temafilen saknas: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TaxonomyError(f"temafilen {path} går inte att läsa: {e}") from None
    entries = data.get("theme")
    if not isinstance(entries, list) or not entries:
        raise TaxonomyError(f"temafilen {path} innehåller inga [[theme]]-block")
    themes: list[Theme] = []
    for i, entry in enumerate(entries, 1):
        themes.append(_theme_from_entry(entry, i, path))
    ids = [t.id for t in themes]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise TaxonomyError(f"temafilen {path}: samma id förekommer flera gånger: {', '.join(dupes)}")
    return themes


def _theme_from_entry(entry: Any, number: int, path: Path) -> Theme:
    where = f"temafilen {path}, tema nr {number}"
    if not isinstance(entry, dict):
        raise TaxonomyError(f"{where}: inte en tabell")
    tid = entry.get("id")
    if not isinstance(tid, str) or not _ID.match(tid):
        raise TaxonomyError(f"{where}: id måste vara små bokstäver a-z, siffror eller _ (fick {tid!r})")
    for key in ("label", "definition"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise TaxonomyError(f"{where} ({tid}): fältet {key} saknas eller är tomt")
    phrases = entry.get("phrases", [])
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
        raise TaxonomyError(f"{where} ({tid}): phrases måste vara en lista med texter")
    phrases = tuple(dict.fromkeys(p.strip() for p in phrases if p.strip()))
    return Theme(id=tid, label=entry["label"].strip(), definition=entry["definition"].strip(), phrases=phrases)


def taxonomy_fingerprint(themes: Sequence[Theme]) -> str:
    return hashlib.sha1("|".join(t.fingerprint() for t in themes).encode()).hexdigest()[:16]
