"""Replayed recognition: answer from a recognition-results file instead of running a recogniser.

Evaluating on real recognisers' errors means evaluating on what a real recogniser heard for real
recordings. A recognition-results file (JSONL, one object a line) pairs a recording with what was
heard:

* ``file`` - the recording name, as in SLURP's ``recordings[].file`` (required, non-empty);
* ``text`` - the recognised 1-best, lower case (required; "" means nothing was heard);
* ``confidence`` - optional, 0..1, of the 1-best;
* ``nbest`` - optional list of ``{"text", "confidence"}``, best first.

Other keys are ignored (files from other tools may carry more). A bad line becomes a
`ReplayError` naming file, line and field and is skipped; the good lines are kept (`errors_`
lists the bad ones, and loading logs a warning with the first few). A recording listed twice keeps
its first line; later ones are reported as errors.

The component answers for ``state.utterance.recording``. Utterances with no recording (a
paraphrase nobody recorded) or with a recording the file does not list go to the `fallback`
component (e.g. `NoisyChannelAsr` or `PocketsphinxAsr`), whose engine is then recorded; with no
fallback the stage fails with ``asr-no-recording``.

The component answers for whichever recording the utterance names; which one that is, is the
caller's choice (the SLURP simulator binds a person to one recording of a request and hears a
retry of the same wording in the request's next recording, `simulate.slurp_goals`). `heard` says
what the file holds for a recording (the SLURP judge counts those texts among a request's own
wordings).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selflearn.assistant.component import Component, StageFailure, TurnState, create, register
from selflearn.logs.records import AsrHypothesis, AsrStage, StageError
from selflearn.util.jsonl import LineError, iter_jsonl

__all__ = ["ENGINE", "NO_RECORDING", "Recognition", "ReplayAsr", "ReplayError", "read_recognitions"]

ENGINE = "replay"
NO_RECORDING = "asr-no-recording"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayError:
    """One unusable line of a recognition-results file."""

    path: str
    line: int  # 1-based
    field: str  # "<line>" when the line is not a JSON object
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: field {self.field!r}: {self.message}"


@dataclass(frozen=True)
class Recognition:
    """What the recogniser heard for one recording."""

    file: str
    text: str
    confidence: float | None = None
    nbest: tuple[AsrHypothesis, ...] = ()

    def hypotheses(self, default_confidence: float) -> list[AsrHypothesis]:
        """The n-best as the turn log holds it: the 1-best is `text` (prepended when `nbest`
        starts with something else), with `confidence` when given, else the n-best's own, else
        `default_confidence`."""
        if not self.text:
            return []
        rest = [h for h in self.nbest if h.text != self.text]
        own = next((h.confidence for h in self.nbest if h.text == self.text), None)
        c1 = (
            self.confidence if self.confidence is not None else own if own is not None else default_confidence
        )
        return [AsrHypothesis(text=self.text, confidence=c1), *rest]


# A bad field of one line; `iter_jsonl` turns it into that line's error.
_Bad = LineError


def _conf(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(field, f"must be a number in [0, 1], got {value!r}")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also rejects NaN
        raise _Bad(field, f"must be in [0, 1], got {value!r}")
    return v


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _Bad(field, f"must be a string, got {type(value).__name__}")
    return " ".join(value.lower().split())


def _parse(obj: Any) -> Recognition:
    if not isinstance(obj, dict):
        raise _Bad("<line>", f"expected a JSON object, got {type(obj).__name__}")
    if "file" not in obj:
        raise _Bad("file", "missing")
    file = obj["file"]
    if not isinstance(file, str) or not file.strip():
        raise _Bad("file", f"must be a non-empty string, got {file!r}")
    if "text" not in obj:
        raise _Bad("text", "missing")
    text = _text(obj["text"], "text")
    conf = None if obj.get("confidence") is None else _conf(obj["confidence"], "confidence")
    nbest: list[AsrHypothesis] = []
    raw_nbest = obj.get("nbest")
    if raw_nbest is not None:
        if not isinstance(raw_nbest, list):
            raise _Bad("nbest", f"must be a list, got {type(raw_nbest).__name__}")
        for i, h in enumerate(raw_nbest):
            where = f"nbest[{i}]"
            if not isinstance(h, dict):
                raise _Bad(where, f"must be an object with text and confidence, got {h!r}")
            if "text" not in h:
                raise _Bad(f"{where}.text", "missing")
            if "confidence" not in h:
                raise _Bad(f"{where}.confidence", "missing")
            htext = _text(h["text"], f"{where}.text")
            if htext:
                nbest.append(
                    AsrHypothesis(text=htext, confidence=_conf(h["confidence"], f"{where}.confidence"))
                )
    return Recognition(file=file.strip(), text=text, confidence=conf, nbest=tuple(nbest))


def read_recognitions(path: str | os.PathLike[str]) -> tuple[dict[str, Recognition], list[ReplayError]]:
    """(recording -> recognition, errors) from a recognition-results file; bad lines are errors,
    never exceptions. A missing file raises FileNotFoundError."""
    p = Path(path)
    out: dict[str, Recognition] = {}
    errors: list[ReplayError] = []
    first_line: dict[str, int] = {}
    for lineno, rec in iter_jsonl(p, _parse):
        if isinstance(rec, LineError):
            errors.append(ReplayError(str(p), lineno, rec.field, rec.message))
            continue
        if rec.file in out:
            errors.append(
                ReplayError(
                    str(p), lineno, "file", f"{rec.file!r} already listed on line {first_line[rec.file]}"
                )
            )
            continue
        out[rec.file] = rec
        first_line[rec.file] = lineno
    return out, errors


class ReplayAsr:
    """ASR component answering from a recognition-results file for ``utterance.recording``, else
    from `fallback` (a component, or a config mapping ``{"component": name, **params}``).

    Params: `file`; `fallback`; `default_confidence` for lines without any confidence (1.0);
    `n` caps the n-best length. Raises `StageFailure("asr-no-text")` for a recording heard as "",
    `StageFailure("asr-no-recording")` when nothing can answer.
    """

    name = "asr"
    engine = ENGINE

    def __init__(
        self,
        file: str | os.PathLike[str],
        fallback: Component | Mapping[str, Any] | None = None,
        *,
        default_confidence: float = 1.0,
        n: int | None = None,
    ) -> None:
        if not 0.0 <= default_confidence <= 1.0:
            raise ValueError(f"default_confidence must be in [0, 1], got {default_confidence}")
        if isinstance(fallback, Mapping):
            params = {k: v for k, v in fallback.items() if k != "component"}
            if "component" not in fallback:
                raise ValueError(f"fallback config has no 'component' key: {dict(fallback)!r}")
            fallback = create(str(fallback["component"]), **params)
        if fallback is not None and getattr(fallback, "name", None) != "asr":
            raise ValueError(f"fallback must be an ASR component (name 'asr'), got {fallback!r}")
        self.file = Path(file)
        self.fallback = fallback
        self.default_confidence = default_confidence
        self.n = n
        self.recognitions_, self.errors_ = read_recognitions(self.file)
        if self.errors_:
            shown = "; ".join(str(e) for e in self.errors_[:3])
            more = f" (and {len(self.errors_) - 3} more)" if len(self.errors_) > 3 else ""
            log.warning("%d bad line(s) skipped in %s: %s%s", len(self.errors_), self.file, shown, more)

    def __len__(self) -> int:
        return len(self.recognitions_)

    def __contains__(self, recording: object) -> bool:
        return recording in self.recognitions_

    def heard(self, recording: str) -> str | None:
        """The recognized 1-best the file holds for `recording` ("" when nothing was heard), or
        None when the file does not list it."""
        rec = self.recognitions_.get(recording)
        return None if rec is None else rec.text

    def __call__(self, state: TurnState) -> TurnState:
        rec = self.recognitions_.get(state.utterance.recording or "")
        if rec is None:
            if self.fallback is None:
                state.turn.asr = AsrStage(engine=ENGINE)
                why = (
                    "no recording"
                    if not state.utterance.recording
                    else f"{state.utterance.recording!r} not in file"
                )
                raise StageFailure(NO_RECORDING, f"{why} and no fallback recogniser configured")
            return self.fallback(state)
        state.turn.asr = AsrStage(engine=ENGINE)
        nbest = rec.hypotheses(self.default_confidence)
        if not nbest:
            raise StageFailure(StageError.ASR_NO_TEXT, f"the recogniser heard nothing for {rec.file!r}")
        if self.n is not None:
            nbest = nbest[: max(1, self.n)]
        state.turn.asr = AsrStage(engine=ENGINE, nbest=nbest)
        return state


register("asr.replay.v1")(ReplayAsr)
