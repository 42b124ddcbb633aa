"""Streaming reader for SLURP-format JSONL (Bastianelli et al., EMNLP 2020; CC BY 4.0).

Each line is one request: ``slurp_id``, ``sentence`` (lower-case text), ``scenario``, ``action``,
``intent``, spaCy ``tokens``, ``entities`` as token-id spans, ``recordings`` and an inline
``sentence_annotation``. The reader turns a line into a typed `SlurpRecord` whose entities carry
character spans into ``sentence``, because the NLU works on character offsets of the text it reads,
not on a tokenizer's ids.

A bad line becomes a `SlurpError` naming file, line and field; the good lines around it are kept.
Callers choose whether errors raise (`iter_slurp` without an error list) or are collected
(`read_slurp`, or `iter_slurp(path, errors=[...])`): nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from selflearn.contracts.domain import Domain, IntentKind, IntentSpec, SlotSpec, SlotType
from selflearn.contracts.nlu_examples import Example, SpanSlot
from selflearn.util.jsonl import LineError, iter_jsonl


@dataclass(frozen=True)
class SlurpToken:
    """One spaCy token as SLURP stores it (its surface may differ in case from ``sentence``)."""

    surface: str
    id: int
    lemma: str = ""
    pos: str = ""


@dataclass(frozen=True)
class SlurpEntity:
    """A gold entity: its SLURP type, its token ids, and its character span in ``sentence``."""

    type: str
    token_span: tuple[int, ...]
    start: int
    end: int
    value: str  # == sentence[start:end]


@dataclass(frozen=True)
class SlurpRecording:
    """One person's reading of the request (the audio itself is not part of the text release)."""

    file: str
    wer: float | None = None
    ent_wer: float | None = None
    status: str = ""


@dataclass(frozen=True)
class SlurpRecord:
    """One SLURP request with gold labels; `label` is the ``scenario_action`` intent SLURP scores."""

    slurp_id: int
    sentence: str
    intent: str
    scenario: str
    action: str
    tokens: tuple[SlurpToken, ...] = ()
    entities: tuple[SlurpEntity, ...] = ()
    recordings: tuple[SlurpRecording, ...] = ()
    sentence_annotation: str | None = None

    @property
    def label(self) -> str:
        """``scenario_action``: SLURP's evaluation intent. The file's ``intent`` field sometimes
        holds only the action (e.g. ``music`` for play/music), so this is the reliable label."""
        return f"{self.scenario}_{self.action}"


@dataclass(frozen=True)
class SlurpError:
    """Why one line could not be read: where it is and which field broke."""

    path: str
    line: int  # 1-based
    field: str  # dotted path of the field, "<line>" when the line is not a JSON object
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: field {self.field!r}: {self.message}"


class SlurpFormatError(ValueError):
    """A SLURP-format line is malformed; `error` says where and which field."""

    def __init__(self, error: SlurpError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class SlurpFile:
    """What a read produced: the good records in file order and one error per bad line."""

    records: list[SlurpRecord] = field(default_factory=list)
    errors: list[SlurpError] = field(default_factory=list)


# A bad field of one line; `iter_jsonl` turns it into that line's error.
_FieldError = LineError


# --------------------------------------------------------------------------------------------------
# field checks


def _get(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> Any:
    if key not in obj:
        if required:
            raise _FieldError(where + key, "missing")
        return None
    return obj[key]


def _str(value: Any, name: str, *, nonempty: bool = False) -> str:
    if not isinstance(value, str):
        raise _FieldError(name, f"expected a string, got {type(value).__name__} {value!r}")
    if nonempty and not value.strip():
        raise _FieldError(name, "empty string")
    return value


def _int(value: Any, name: str) -> int:
    # bool is an int subclass in Python, but a boolean id is a broken record, not id 0/1
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise _FieldError(name, f"expected an integer, got {type(value).__name__} {value!r}")
    return value


def _opt_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _FieldError(name, f"expected a number or null, got {type(value).__name__} {value!r}")
    return float(value)


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise _FieldError(name, f"expected a list, got {type(value).__name__}")
    return value


def _dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _FieldError(name, f"expected an object, got {type(value).__name__}")
    return value


# --------------------------------------------------------------------------------------------------
# token alignment


def align_tokens(sentence: str, surfaces: Sequence[str]) -> list[tuple[int, int]]:
    """Character span in ``sentence`` of each token surface.

    SLURP's tokens come from the annotated text, so they can differ from ``sentence`` in case
    ("Friday"), in clitic splits ("ca n't") and sometimes in spelling ("grassmarket" vs "grass
    market"). Exact case-insensitive matching handles nearly all lines; otherwise a character
    alignment (difflib) maps token boundaries onto the sentence. A token the sentence does not
    contain at all gets an empty span at its aligned position.
    """
    low = sentence.lower()
    if len(low) != len(sentence):  # lower() changed lengths (rare Unicode): offsets must stay valid
        low = sentence
    spans: list[tuple[int, int]] = []
    cursor = 0
    for surface in surfaces:
        s = surface.lower()
        i = low.find(s, cursor) if s else -1
        if i < 0 or low[cursor:i].strip():
            return _align_fuzzy(low, [x.lower() for x in surfaces])
        spans.append((i, i + len(s)))
        cursor = i + len(s)
    return spans


def _align_fuzzy(sentence: str, surfaces: Sequence[str]) -> list[tuple[int, int]]:
    joined_parts: list[str] = []
    tok_spans: list[tuple[int, int]] = []
    pos = 0
    for s in surfaces:
        tok_spans.append((pos, pos + len(s)))
        joined_parts.append(s)
        pos += len(s) + 1
    joined = " ".join(joined_parts)
    n = len(joined)
    start_map = [0] * (n + 1)
    end_map = [0] * (n + 1)
    sm = difflib.SequenceMatcher(None, joined, sentence, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                start_map[i1 + k] = j1 + k
                end_map[i1 + k + 1] = j1 + k + 1
        elif tag in ("replace", "delete"):
            for p in range(i1, i2):
                start_map[p] = j1
                end_map[p + 1] = j2
    start_map[n] = len(sentence)
    out: list[tuple[int, int]] = []
    for a, b in tok_spans:
        st, en = start_map[a], end_map[b]
        if en < st:
            en = st
        # never let a span start or end on whitespace
        while st < en and sentence[st].isspace():
            st += 1
        while en > st and sentence[en - 1].isspace():
            en -= 1
        out.append((st, en))
    return out


# --------------------------------------------------------------------------------------------------
# records


def parse_record(obj: Any) -> SlurpRecord:
    """One decoded JSON line -> `SlurpRecord`; raises `SlurpFormatError` (path/line unset) if bad."""
    try:
        return _parse(obj)
    except _FieldError as e:
        raise SlurpFormatError(SlurpError("<memory>", 0, e.field, e.message)) from None


def _parse(raw: Any) -> SlurpRecord:
    obj = _dict(raw, "<line>")
    slurp_id = _int(_get(obj, "slurp_id", ""), "slurp_id")
    sentence = _str(_get(obj, "sentence", ""), "sentence", nonempty=True)
    scenario = _str(_get(obj, "scenario", ""), "scenario", nonempty=True)
    action = _str(_get(obj, "action", ""), "action", nonempty=True)
    intent_raw = _get(obj, "intent", "", required=False)
    intent = f"{scenario}_{action}" if intent_raw is None else _str(intent_raw, "intent", nonempty=True)
    ann_raw = _get(obj, "sentence_annotation", "", required=False)
    annotation = None if ann_raw is None else _str(ann_raw, "sentence_annotation")

    tokens: list[SlurpToken] = []
    for i, t in enumerate(_list(obj.get("tokens", []), "tokens")):
        w = f"tokens[{i}]."
        td = _dict(t, f"tokens[{i}]")
        surface = _str(_get(td, "surface", w), w + "surface", nonempty=True)
        tid = _int(_get(td, "id", w), w + "id")
        if tid != i:
            raise _FieldError(w + "id", f"token ids must be 0, 1, 2, ... in order; got {tid} at {i}")
        lemma = _str(td.get("lemma", ""), w + "lemma")
        pos = _str(td.get("pos", ""), w + "pos")
        tokens.append(SlurpToken(surface, tid, lemma, pos))

    char_spans = align_tokens(sentence, [t.surface for t in tokens]) if tokens else []
    entities: list[SlurpEntity] = []
    for i, e in enumerate(_list(obj.get("entities", []), "entities")):
        w = f"entities[{i}]."
        ed = _dict(e, f"entities[{i}]")
        etype = _str(_get(ed, "type", w), w + "type", nonempty=True)
        span = [_int(x, w + "span") for x in _list(_get(ed, "span", w), w + "span")]
        if not span:
            raise _FieldError(w + "span", "empty token span")
        if span != list(range(span[0], span[0] + len(span))):
            raise _FieldError(w + "span", f"token ids {span} are not consecutive and ascending")
        if span[0] < 0 or span[-1] >= len(tokens):
            raise _FieldError(w + "span", f"token ids {span} outside the {len(tokens)} tokens")
        start, end = char_spans[span[0]][0], char_spans[span[-1]][1]
        if end <= start:
            raise _FieldError(w + "span", f"tokens {span} do not align to any text of {sentence!r}")
        entities.append(SlurpEntity(etype, tuple(span), start, end, sentence[start:end]))

    recordings: list[SlurpRecording] = []
    for i, r in enumerate(_list(obj.get("recordings", []), "recordings")):
        w = f"recordings[{i}]."
        rd = _dict(r, f"recordings[{i}]")
        recordings.append(
            SlurpRecording(
                file=_str(_get(rd, "file", w), w + "file", nonempty=True),
                wer=_opt_float(rd.get("wer"), w + "wer"),
                ent_wer=_opt_float(rd.get("ent_wer"), w + "ent_wer"),
                status=_str(rd.get("status", ""), w + "status"),
            )
        )
    return SlurpRecord(
        slurp_id=slurp_id,
        sentence=sentence,
        intent=intent,
        scenario=scenario,
        action=action,
        tokens=tuple(tokens),
        entities=tuple(entities),
        recordings=tuple(recordings),
        sentence_annotation=annotation,
    )


def iter_slurp(path: str | Path, errors: list[SlurpError] | None = None) -> Iterator[SlurpRecord]:
    """Stream the records of a SLURP-format JSONL file, one line at a time.

    With ``errors`` given, each bad line is appended to it and reading goes on; without it, the
    first bad line raises `SlurpFormatError`. Blank lines are not records and are skipped.
    """
    p = Path(path)
    # closing(): the file is shut as soon as this generator stops (error raised or abandoned).
    with contextlib.closing(iter_jsonl(p, _parse)) as lines:
        for lineno, record in lines:
            if isinstance(record, LineError):
                err = SlurpError(str(p), lineno, record.field, record.message)
                if errors is None:
                    raise SlurpFormatError(err)
                errors.append(err)
                continue
            yield record


def read_slurp(path: str | Path) -> SlurpFile:
    """Read a whole SLURP-format file, collecting bad lines as errors beside the good records."""
    out = SlurpFile()
    out.records.extend(iter_slurp(path, errors=out.errors))
    return out


# --------------------------------------------------------------------------------------------------
# training data


def to_examples(
    records: Iterable[SlurpRecord], *, intent: Literal["label", "intent"] = "label"
) -> list[Example]:
    """NLU examples: text = ``sentence``, slot name = entity type, value = the sentence's span.

    ``intent="label"`` (default) uses ``scenario_action`` as SLURP's evaluation does;
    ``"intent"`` keeps the file's raw ``intent`` field.
    """
    out: list[Example] = []
    for r in records:
        slots = tuple(SpanSlot(e.type, e.value, e.start, e.end) for e in r.entities)
        out.append(Example(r.sentence, r.label if intent == "label" else r.intent, slots))
    return out


def slurp_domain(records: Iterable[SlurpRecord], name: str = "slurp") -> Domain:
    """SLURP's domain as the runtime reads it: one intent per ``scenario_action`` label with the
    entity types seen under it as free-text slots, protected intents by the default policy. SLURP
    ships no entity inventory, so the vocabularies stay empty."""
    slots: dict[str, set[str]] = {}
    for r in records:
        slots.setdefault(r.label, set()).update(e.type for e in r.entities)
    intents = tuple(
        IntentSpec(label, IntentKind.ACTION, tuple(SlotSpec(t, SlotType.ITEM) for t in sorted(types)))
        for label, types in sorted(slots.items())
    )
    return Domain(name, intents)


def _unit_hash(slurp_id: int, seed: int) -> float:
    # a cryptographic hash, not hash(): stable across processes, platforms and Python versions
    h = hashlib.blake2b(f"{seed}:{slurp_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def split_by_id(
    records: Iterable[SlurpRecord], *, seed: int = 0, valid_fraction: float = 0.2
) -> tuple[list[SlurpRecord], list[SlurpRecord]]:
    """(train, valid) split decided by a hash of (seed, slurp_id): every recording and duplicate of
    one request lands on the same side, and the split of a record never depends on the others."""
    if not 0.0 <= valid_fraction <= 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1], got {valid_fraction}")
    train: list[SlurpRecord] = []
    valid: list[SlurpRecord] = []
    for r in records:
        (valid if _unit_hash(r.slurp_id, seed) < valid_fraction else train).append(r)
    return train, valid


# --------------------------------------------------------------------------------------------------
# inline annotations

_BRACKET = re.compile(r"\[([^\[\]]*)\]")


def parse_annotation(annotation: str) -> tuple[str, tuple[SpanSlot, ...]]:
    """``"wake me up at [time : five am]"`` -> (``"wake me up at five am"``, (time span,)).

    The text keeps the annotation's own case and spelling (it can differ from ``sentence``);
    raises ValueError on unbalanced or nested brackets or a bracket without ``type : value``.
    """
    parts: list[str] = []
    slots: list[SpanSlot] = []
    length = 0
    last = 0
    for m in _BRACKET.finditer(annotation):
        before = annotation[last : m.start()]
        if "[" in before or "]" in before:
            raise ValueError(f"unbalanced brackets in annotation {annotation!r}")
        parts.append(before)
        length += len(before)
        inner = m.group(1)
        name, sep, value = inner.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ValueError(f"bracket [{inner}] is not '[type : value]' in annotation {annotation!r}")
        slots.append(SpanSlot(name, value, length, length + len(value)))
        parts.append(value)
        length += len(value)
        last = m.end()
    tail = annotation[last:]
    if "[" in tail or "]" in tail:
        raise ValueError(f"unbalanced brackets in annotation {annotation!r}")
    parts.append(tail)
    return "".join(parts), tuple(slots)
