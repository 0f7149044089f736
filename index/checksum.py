"""Checksums of index files, recorded in their JSON sidecars so a damaged or half-written file is detected."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
