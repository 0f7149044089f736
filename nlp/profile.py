"""Layout profiles: a small TOML file a user writes for a template the tool reads wrong.

A profile adds the template's own words to the vocabulary (nlp/report_vocab.toml) and may name item titles by a
pattern. It is chosen with `cli.py ingest --layout FILE`, or found in a profiles folder (layouts/ in the project,
and the data folder's layouts/) when one of its `match` texts occurs near the start of a report. Example
(layouts/exempel.toml):

    name = "Kultur- och fritidsnämndens uppföljning"
    match = ["Verksamhetsuppföljning T2"]       # text near the start of reports made with this template
    [items]
    words = ["insatsområde"]                    # a column header or label starting with these names the items
    heading = '^Åtgärd \\d+:'                    # lines matching this (a Python regex) are item titles
    level = "åtgärd"                            # the level such items get
    [labels]
    status = ["läge"]                           # "Läge: Pågår" states an item's status
    comment = ["redovisning"]                   # "Redovisning: ..." opens an item's commentary
"""
from __future__ import annotations

import copy
import re
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from errors import ToolError

PROJECT_PROFILES = Path(__file__).resolve().parent.parent / "layouts"
MATCH_LINES = 80  # a profile's match text must occur within the report's first lines


class ProfileError(ToolError):
    hint = "Se exemplet i layouts/exempel.toml."


@dataclass
class Profile:
    name: str
    path: str
    match: list[str] = field(default_factory=list)
    item_words: list[str] = field(default_factory=list)
    heading: re.Pattern[str] | None = None
    level: str = "åtgärd"
    status_labels: list[str] = field(default_factory=list)
    comment_labels: list[str] = field(default_factory=list)


def _strings(path: Path, data: dict, key: str) -> list[str]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ProfileError(f"{path}: {key} ska vara en lista med texter")
    return [v.strip().lower() for v in value]


def load_profile(path: Path | str) -> Profile:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: layoutprofilen finns inte") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path}: kan inte läsas ({e.__class__.__name__})") from None
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{path}: ogiltig TOML ({e})") from None
    items, labels = data.get("items", {}), data.get("labels", {})
    if not isinstance(items, dict) or not isinstance(labels, dict):
        raise ProfileError(f"{path}: [items] och [labels] ska vara tabeller")
    heading = items.get("heading")
    try:
        pattern = re.compile(heading, re.I) if heading else None
    except (re.error, TypeError) as e:
        raise ProfileError(f"{path}: items.heading är inget giltigt reguljärt uttryck ({e})") from None
    profile = Profile(name=str(data.get("name") or path.stem), path=str(path),
                      match=[m for m in _strings(path, data, "match")],
                      item_words=_strings(path, items, "words"), heading=pattern,
                      level=str(items.get("level") or "åtgärd"),
                      status_labels=_strings(path, labels, "status"), comment_labels=_strings(path, labels, "comment"))
    if not (profile.item_words or profile.heading or profile.status_labels or profile.comment_labels):
        raise ProfileError(f"{path}: profilen säger inget om poster (items.words, items.heading) eller etiketter")
    return profile


def find_profile(text_lines: list[str], folders: list[Path]) -> Profile | None:
    """The first profile in the folders whose match text occurs near the start of the report."""
    head = "\n".join(text_lines[:MATCH_LINES]).lower()
    for folder in folders:
        for path in sorted(Path(folder).glob("*.toml")) if Path(folder).is_dir() else []:
            profile = load_profile(path)
            if profile.match and any(m in head for m in profile.match):
                return profile
    return None


@contextmanager
def applied(profile: Profile | None) -> Iterator[None]:
    """The layout vocabulary with the profile's words added, for the duration of one segmentation."""
    from nlp import layout as L

    if profile is None:
        yield
        return
    base = L.vocab()
    extended = copy.deepcopy(base)
    extended["items"]["words"] = base["items"]["words"] + profile.item_words
    extended["labels"]["status"] = base["labels"]["status"] + profile.status_labels
    extended["labels"]["comment"] = base["labels"]["comment"] + profile.comment_labels
    extended["columns"]["status"] = base["columns"]["status"] + profile.status_labels
    extended["levels"] = {**base["levels"], **{w: profile.level for w in profile.item_words}}
    L.compile_vocab(extended)
    try:
        yield
    finally:
        L.compile_vocab(base)
