"""Reviewers' decisions on flags as feedback: a dismissal lowers the score of similar flags, wherever they are.

Two flags are similar when the same detector says the same thing in the same words, up to what it quotes and
counts (the message with quoted text, numbers and dates taken out: 'Status "…" men texten beskriver …'). For each
such kind of case the score becomes at most the share of reviewed cases reviewers confirmed, smoothed towards the
detector's own score as if it were PRIOR_DECISIONS decisions: one dismissal of a 0.8 flag lowers its like to 0.53,
two to 0.40, and a confirmation lifts them back. A score is never raised above the detector's own.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from typing import Any

from nlp.consistency import severity
from records import Flag

PRIOR_DECISIONS = 2.0
_QUOTED = re.compile(r'"[^"]*"|»[^«]*«|”[^”]*”|\'[^\']*\'|\([^)]*\)')
_NUMBER = re.compile(r"\d+(?:[ .,:–-]\d+)*")


NOTE = " (poäng sänkt: granskare har avfärdat {d} och bekräftat {c} liknande flaggor)"


def case(flag: Flag) -> tuple[str, str]:
    """What makes two flags the same kind of case: the detector and its message without quotes and numbers."""
    message = flag.message.split(NOTE.split("{")[0])[0]  # a stored flag may carry an earlier lowering's note
    text = _NUMBER.sub("#", _QUOTED.sub("…", message))
    return flag.kind, " ".join(text.lower().split())


def case_key(flag: Flag) -> str:
    """`case` as one string, as decisions keep it."""
    return "\t".join(case(flag))


def adjust(flags: list[Flag], reviewed: list[tuple[str, bool]]) -> list[Flag]:
    """`flags` with scores lowered by reviewers' dismissals of similar flags (`reviewed`: (case_key, confirmed))."""
    confirmed, dismissed = Counter(), Counter()
    for key, real in reviewed:
        (confirmed if real else dismissed)[key] += 1
    out = []
    for f in flags:
        c, d = confirmed[case_key(f)], dismissed[case_key(f)]
        if not d:
            out.append(f)
            continue
        rate = (c + PRIOR_DECISIONS * f.score) / (c + d + PRIOR_DECISIONS)
        score = round(min(f.score, rate), 4)
        out.append(replace(f, score=score, severity=severity(score), message=f.message + NOTE.format(d=d, c=c)))
    return out


def reviewed_flags(store: Any) -> list[tuple[str, bool]]:
    """(case_key, confirmed) for every flag decision in force that kept its case. Only the decisions count, never
    the flags table, so recomputing flags twice gives the same flags (decisions from before cases were kept give
    no feedback)."""
    return [(d.flag_case, d.action == "confirm") for d in store.current_decisions("flag").values()
            if d.action in ("confirm", "dismiss") and d.flag_case]
