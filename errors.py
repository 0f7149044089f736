"""Named errors raised by core code; cli.py and app.py translate each into one clear line."""
from __future__ import annotations


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
