"""The one text normaliser: lowercase letters and digits, markup and punctuation gone, so titles, stated statuses
and labels compare across markup, wrapping, numbering punctuation and spacing."""
from __future__ import annotations

import re
import unicodedata

_TAG = re.compile(r"<[^<>]+>")
_WORD = re.compile(r"[0-9a-zåäöéüæø]+")


def norm(text: str | None) -> str:
    text = unicodedata.normalize("NFC", text or "").lower()
    return " ".join(_WORD.findall(_TAG.sub(" ", text)))
