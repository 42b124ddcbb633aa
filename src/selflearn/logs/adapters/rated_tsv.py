"""Tab-separated rated dialogues -> `Turn` records plus human defect labels.

Input (the layout of user-satisfaction corpora such as USS: one line per utterance, dialogues
separated by blank lines)::

    USER<TAB>text<TAB>action<TAB>r1,r2,...,rk
    SYSTEM<TAB>text<TAB>action[<TAB>]

`ratings` are 1-5 scores of several annotators on a USER line: how satisfied the user is with the
dialogue at that point, i.e. with the system turn just before it. A SYSTEM line may omit the
ratings field or leave it empty; a USER line may leave it empty (unrated). Lines starting with
``#`` are comments. A USER line whose text is ``OVERALL`` (the last line of a dialogue in such
corpora) rates the whole dialogue: it is kept as `RatedDialogue.overall`, never as a turn.
Consecutive USER lines with no SYSTEM line between them are one turn (their texts joined; the
first ratings given count).

Mapping:
  * one `Turn` per USER line: the request is the user text (ASR 1-best at confidence 1.0, engine
    "text"), the response is the SYSTEM line(s) that follow (joined by a space), the user's action
    stands in for the NLU's top intent (confidence 1.0) and the system's action is the executed
    action (status ok). Ids: session ``<name>:<n>`` (n = dialogue number, from 1), turn
    ``<session>:<k>``, user ``rated:<session>``; timestamps `start` + 10 s per turn.
  * defect label: turn k is a defect when the majority of the annotators (strictly more than half)
    rate the NEXT user line <= `defect_max_rating` (default 2): the user's dissatisfaction is
    with the system answer they just heard. The last turn of a dialogue, and turns whose next user
    line is unrated, have no label (None).
  * SYSTEM lines before the first USER line (a greeting) are kept as `RatedDialogue.preamble` only.

Errors name the file, line and field (`RatedTsvError`). Given an `errors` list, a reader skips a
bad line, keeps the rest of the file and appends the error (for quarantine); without one, the
first bad line raises.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from selflearn.logs.records import (
    ActionStage,
    AsrHypothesis,
    AsrStage,
    DeviceInfo,
    DeviceType,
    NluHypothesis,
    NluStage,
    ResponseStage,
    Turn,
)

__all__ = [
    "RatedDialogue",
    "RatedTsvError",
    "RatedTurn",
    "defect_labels",
    "parse_rated_tsv",
    "read_rated_tsv",
    "to_turns",
]

ROLES = ("USER", "SYSTEM")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class RatedTsvError(ValueError):
    """A line of a rated TSV file that cannot be read: `source`, `line` and `field` say where."""

    def __init__(self, source: str, line: int, field_name: str, message: str) -> None:
        super().__init__(f"{source}:{line}: field {field_name!r}: {message}")
        self.source = source
        self.line = line
        self.field = field_name


@dataclass
class RatedTurn:
    """A user utterance, the system's answer to it, and the ratings of the user line itself."""

    user_text: str
    user_action: str
    ratings: list[int]  # ratings on this USER line (of the system turn before it); [] = unrated
    line: int
    system_text: str = ""
    system_action: str = ""
    defect: bool | None = None  # the NEXT user line's majority rating <= threshold


@dataclass
class RatedDialogue:
    dialogue_id: str
    turns: list[RatedTurn] = field(default_factory=list)
    preamble: list[str] = field(default_factory=list)
    overall: list[int] = field(default_factory=list)  # the whole dialogue's ratings (OVERALL line)


def _ratings(raw: str, source: str, line: int) -> list[int]:
    raw = raw.strip()
    if not raw:
        return []
    out = []
    for part in raw.split(","):
        part = part.strip()
        try:
            v = int(part)
        except ValueError:
            raise RatedTsvError(source, line, "ratings", f"{part!r} is not an integer 1-5") from None
        if not 1 <= v <= 5:
            raise RatedTsvError(source, line, "ratings", f"rating {v} is outside 1-5")
        out.append(v)
    return out


def _majority_low(ratings: Sequence[int], max_rating: int) -> bool | None:
    if not ratings:
        return None
    return sum(r <= max_rating for r in ratings) * 2 > len(ratings)


OVERALL = "OVERALL"


def parse_rated_tsv(
    lines: Iterable[str],
    source: str = "<input>",
    name: str | None = None,
    defect_max_rating: int = 2,
    errors: list[RatedTsvError] | None = None,
) -> list[RatedDialogue]:
    """Parse rated TSV lines into dialogues with per-turn defect labels (see module docstring).
    With `errors`, a bad line is skipped and its error appended; without, it raises."""
    base = name or Path(source).stem or "rated"
    dialogues: list[RatedDialogue] = []
    cur: RatedDialogue | None = None
    last_role = ""

    def close() -> None:
        nonlocal cur, last_role
        if cur is not None and (cur.turns or cur.preamble or cur.overall):
            for k, t in enumerate(cur.turns[:-1]):
                t.defect = _majority_low(cur.turns[k + 1].ratings, defect_max_rating)
            dialogues.append(cur)
        cur = None
        last_role = ""

    for no, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if not text.strip():
            close()
            continue
        if text.lstrip().startswith("#"):
            continue
        try:
            role, utt, action, ratings = _fields(text, source, no)
        except RatedTsvError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        if cur is None:
            cur = RatedDialogue(dialogue_id=f"{base}:{len(dialogues) + 1}")
        if role == "USER" and utt.upper() == OVERALL:
            cur.overall = ratings
        elif role == "USER" and last_role == "USER" and cur.turns:
            t = cur.turns[-1]  # the same turn, said in two lines
            t.user_text = f"{t.user_text} {utt}"
            t.user_action = t.user_action or action
            t.ratings = t.ratings or ratings
        elif role == "USER":
            cur.turns.append(RatedTurn(user_text=utt, user_action=action, ratings=ratings, line=no))
        elif cur.turns:
            t = cur.turns[-1]
            t.system_text = f"{t.system_text} {utt}".strip()
            t.system_action = t.system_action or action
        else:
            cur.preamble.append(utt)
        last_role = role
    close()
    return dialogues


def _fields(text: str, source: str, no: int) -> tuple[str, str, str, list[int]]:
    parts = text.split("\t")
    if len(parts) not in (3, 4):
        raise RatedTsvError(source, no, "line", f"expected 3 or 4 tab-separated fields, got {len(parts)}")
    role = parts[0].strip().upper()
    if role not in ROLES:
        raise RatedTsvError(source, no, "role", f"{parts[0]!r} is not USER or SYSTEM")
    utt, action = parts[1].strip(), parts[2].strip()
    ratings = _ratings(parts[3], source, no) if len(parts) == 4 else []
    if role == "USER" and not utt:
        raise RatedTsvError(source, no, "text", "a USER line needs text")
    return role, utt, action, ratings


def read_rated_tsv(
    path: str | os.PathLike[str],
    name: str | None = None,
    defect_max_rating: int = 2,
    errors: list[RatedTsvError] | None = None,
) -> list[RatedDialogue]:
    """Read a rated TSV file (UTF-8); with `errors`, bad lines are skipped and collected there."""
    p = Path(path)
    with open(p, encoding="utf-8") as f:
        return parse_rated_tsv(
            f, source=str(p), name=name or p.stem, defect_max_rating=defect_max_rating, errors=errors
        )


def to_turns(dialogues: Sequence[RatedDialogue], start: datetime = EPOCH) -> list[Turn]:
    """`Turn` records of the dialogues (one per user utterance; see the module docstring)."""
    out: list[Turn] = []
    for n, d in enumerate(dialogues):
        t0 = start + timedelta(hours=n)
        for k, rt in enumerate(d.turns):
            out.append(
                Turn(
                    turn_id=f"{d.dialogue_id}:{k}",
                    session_id=d.dialogue_id,
                    user_id=f"rated:{d.dialogue_id}",
                    turn_index=k,
                    timestamp=t0 + timedelta(seconds=10 * k),
                    device=DeviceInfo(device_id="rated-tsv", type=DeviceType.PHONE),
                    asr=AsrStage(engine="text", nbest=[AsrHypothesis(text=rt.user_text, confidence=1.0)]),
                    nlu=NluStage(
                        model="rated-tsv",
                        input_text=rt.user_text,
                        nbest=[NluHypothesis(intent=rt.user_action, confidence=1.0)]
                        if rt.user_action
                        else [],
                    ),
                    action=ActionStage(
                        name=rt.system_action or None, status="ok" if rt.system_action else "unknown"
                    ),
                    response=ResponseStage(text=rt.system_text),
                )
            )
    return out


def defect_labels(dialogues: Sequence[RatedDialogue]) -> dict[str, bool]:
    """turn_id (as `to_turns` names it) -> defect, for the turns that have a label."""
    return {
        f"{d.dialogue_id}:{k}": t.defect
        for d in dialogues
        for k, t in enumerate(d.turns)
        if t.defect is not None
    }
