"""Named errors raised by core code; cli.py and app.py translate each into one clear line."""
from __future__ import annotations

import errno
import sqlite3
from pathlib import Path


class ToolError(Exception):
    """Base class: `str(error)` is the one-line message a user sees."""

    hint: str = ""

    def user_message(self) -> str:
        return f"{self} {self.hint}".strip()


class UnreadableReport(ToolError):
    """A file could not be read as a report (empty, binary, no text layer, too large ...)."""

    def __init__(self, file: str, cause: str):
        super().__init__(f"{file}: {cause}")
        self.file = file
        self.cause = cause


class NoUnitsFound(UnreadableReport):
    """The report was read but no followed-up items were recognised."""


class StoreNotFound(ToolError):
    hint = "Kör `python cli.py ingest` först."


class ModelMismatch(ToolError):
    hint = "Bygg om indexen med den valda modellen: `python cli.py reindex`."


class IndexCorrupt(ToolError):
    hint = "Indexen byggs om från databasen vid nästa start, eller nu med `python cli.py reindex`."


class BadQuery(ToolError):
    pass


class UnknownChoice(ToolError):
    """A variant chosen by name that does not exist; the message lists the valid names."""

    def __init__(self, what: str, value: str, choices: list[str] | tuple[str, ...]):
        super().__init__(f"okänt värde för {what}: {value!r}; giltiga värden: {', '.join(sorted(choices))}")


class ReviewError(ToolError):
    """A review decision that cannot be recorded (no reviewer name, unknown unit or flag, invalid status ...)."""


class StorageError(ToolError):
    """The disk refused what a command needed: a read-only folder, a full disk, or a store another program holds
    locked. SQLite rolls the transaction back, so what was stored before is untouched."""


# errno values and SQLite messages, each meaning one thing for the user (sqlite3 only raises OperationalError
# with its message, no code, before Python 3.11's sqlite_errorname, which not every build fills).
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_SQLITE = (("readonly database", "read-only"), ("unable to open database", "read-only"),
           ("disk is full", "full"), ("disk i/o error", "io"), ("database is locked", "locked"))


def _nearly_full(where: str | Path) -> bool:
    import shutil

    try:
        return shutil.disk_usage(where).free < 16 * 2**20
    except OSError:
        return False


def storage_error(exc: BaseException, where: str | Path) -> StorageError | None:
    """The one-line message for a disk or lock failure, or None when `exc` is some other error."""
    kind = None
    if isinstance(exc, sqlite3.Error):
        text = str(exc).lower()
        kind = next((k for fragment, k in _SQLITE if fragment in text), None)
    elif isinstance(exc, OSError):
        kind = "read-only" if exc.errno in _READ_ONLY else "full" if exc.errno in _FULL else None
    if kind == "io" and _nearly_full(where):
        kind = "full"  # SQLite reports a write into a full disk's WAL or shared-memory file as an I/O error
    if kind == "read-only":
        return StorageError(f"datakatalogen {where} är skrivskyddad, så inget har ändrats. Sök och läsning fungerar; "
                            "ge skrivrätt till katalogen eller kopiera den (`python cli.py backup KATALOG`) "
                            "för att läsa in eller granska.")
    if kind == "full":
        return StorageError(f"disken där {where} ligger är full. Det som redan var sparat är orört; frigör utrymme "
                            "och kör kommandot igen, så görs det som inte hann klart färdigt.")
    if kind == "io":
        return StorageError(f"kunde inte skriva till disken där {where} ligger (full eller skadad?). Det som redan "
                            "var sparat är orört; kontrollera disken och kör kommandot igen.")
    if kind == "locked":
        return StorageError(f"databasen i {where} är låst av ett annat program, så inget har ändrats. Vänta tills "
                            "det är klart och försök igen.")
    return None
