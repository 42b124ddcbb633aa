"""A simulated speech recogniser: text said -> text heard, through a systematic noisy channel.

Real recognisers make the *same* mistakes again and again ("turn of the lights", "set a time her"),
because the same acoustics meet the same language model. That recurrence is what lets selflearn
mine rewrites from logs, so the channel here is systematic on purpose:

* every word has fixed hazards (per-word constants, derived from the word itself) for being
  confused, dropped, split ("tonight" -> "to night") or merged with its neighbour ("a head" ->
  "ahead"), and a fixed distribution over what it is confused *with*;
* confusions come from a hand-written table of common English / voice-assistant confusions and
  homophones, plus neighbours derived automatically: vocabulary words with the same Metaphone code
  and a small spelling distance;
* a speaker's `noise_profile` scales the hazards ("rate", "confusion", "drop", "merge", "split");
  a "bias_seed" makes a few words trouble words for that speaker, with a favourite misrecognition;
* `careful` speech (a slow, clear retry) divides the error rate by three.

Randomness only decides *whether* a hazard fires in a given turn, from random draws seeded by a
stable hash of (component seed, turn id), so a turn replays identically. `error_rate` is the
expected word error rate for an average speaker on typical smart-home requests: hazards are scaled
once so that their mean over `TYPICAL_REQUESTS` is one.

What the recogniser knows. A real decoder never knows whether it erred; its confidence is its own
evidence (acoustic and language-model scores), which is only correlated with being right. So here
each spoken word gets a latent *evidence* (log-odds of being heard right: a mean set by the word's
hazards, plus a per-turn deviation); the word goes wrong when its error draw falls below
sigmoid(-evidence), and the recogniser reports a posterior that is the evidence seen through
per-word and per-turn noise (`word_posteriors`, which takes no error flags). Confidence is the
geometric mean of the 1-best's posteriors, as pocketsphinx's is; the n-best flips the least certain
places, whose runner-up is what was said only part of the time. A person's draws for the same words
are correlated across turns (`_REPEAT_CORRELATION`) but not identical, so a repeat is heard the same
way about as often as pocketsphinx hears two slightly different renderings of one voice the same.
The noise levels are calibrated against pocketsphinx on the same SLURP sentences at a matched WER
(`benchmarks/asr_calibration.py`: utterance and word AUROC of confidence, reference in the n-best,
repeat identity; results in `benchmarks/results/asr_calibration.json`).

Nothing here knows about the simulator; the simulator hands in an `Utterance`.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import jellyfish
from rapidfuzz.distance import Levenshtein

from selflearn.assistant.component import StageFailure, TurnState, Utterance, register
from selflearn.logs.records import AsrHypothesis, AsrStage, StageError
from selflearn.text.normalize import normalize_request

__all__ = [
    "CARRIER_WORDS",
    "CONFUSIONS",
    "HOMOPHONE_GROUPS",
    "MERGES",
    "SPLITS",
    "TYPICAL_REQUESTS",
    "NoisyChannelAsr",
    "WordModel",
    "confusion_table",
    "word_model",
]

ENGINE = "noisy_channel"

# --------------------------------------------------------------------------------------------------
# Hand-written tables, kept as data (noisy_channel_tables.json beside this module). Keys and values
# are lower-case, as the recogniser's output is.
# --------------------------------------------------------------------------------------------------

_TABLES_FILE = "noisy_channel_tables.json"
_RAW: dict[str, Any] = json.loads(resources.files(__package__).joinpath(_TABLES_FILE).read_text("utf-8"))

#: Words that sound (nearly) alike: each member is confusable with every other member.
HOMOPHONE_GROUPS: tuple[tuple[str, ...], ...] = tuple(tuple(g) for g in _RAW["homophone_groups"])
#: Word -> what recognisers commonly hear instead (beyond homophones), chosen for what people say
#: to a smart-home assistant; multi-word targets are fine.
CONFUSIONS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _RAW["confusions"].items()}
#: Two spoken words that a recogniser glues into one real word.
MERGES: dict[tuple[str, str], str] = {(a, b): t for a, b, t in _RAW["merges"]}
#: One spoken word that a recogniser splits into two.
SPLITS: dict[str, str] = dict(_RAW["splits"])
#: Short unstressed words recognisers swallow most often.
FUNCTION_WORDS: frozenset[str] = frozenset(_RAW["function_words"])
#: Words that carry a request's frame rather than its content.
CARRIER_WORDS: frozenset[str] = frozenset(_RAW["carrier_words"])
#: Common English and smart-home words: the vocabulary from which phonetic neighbours are derived.
COMMON_WORDS: str = " ".join(_RAW["common_words"])
#: Typical requests to a smart-home assistant: where `error_rate` is calibrated and WER reported.
TYPICAL_REQUESTS: tuple[str, ...] = tuple(_RAW["typical_requests"])

# --------------------------------------------------------------------------------------------------
# Hazard constants (relative; rescaled so their mean over TYPICAL_REQUESTS tokens is one).
# --------------------------------------------------------------------------------------------------

_CONF_HAND = 2.0  # words with a hand-listed confusion: the ones recognisers really trip on
_CONF_DERIVED = 0.5  # words with only metaphone-derived neighbours
_CONF_OOV = 1.0  # words outside the vocabulary (names, titles): rare words are harder
_CARRIER_FACTOR = 0.3
_DROP_FUNCTION = 1.0
_DROP_SHORT = 0.25
_DROP_OTHER = 0.05
_SPLIT = 1.0
_MERGE = 1.5
_DERIVED_WEIGHT = 0.3  # derived neighbours' share relative to hand-listed targets
_MAX_DERIVED = 4
_TROUBLE_SHARE = 0.1  # share of a biased speaker's vocabulary that is systematically hard
_TROUBLE_BOOST = 3.0
_TROUBLE_PREFERENCE = 0.75  # how often a trouble word goes to the speaker's favourite confusion
_CAREFUL_DIVISOR = 3.0
_PROFILE_KEYS = ("confusion", "drop", "merge", "split")


def _stable_int(*parts: object) -> int:
    """A 64-bit hash stable across processes and Python versions (unlike `hash()`)."""
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _unit(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for `parts`."""
    return _stable_int(*parts) / 2.0**64


def _jitter(word: str, kind: str) -> float:
    """A fixed per-word factor in [0.5, 2): some words are simply harder, for every speaker."""
    return math.exp(math.log(2.0) * (2.0 * _unit("jitter", kind, word) - 1.0))


@dataclass(frozen=True)
class WordModel:
    """The fixed error behaviour of one word: hazards per error kind and its confusion targets.

    `substitutes` are ordered most likely first; `cumulative` are their cumulative weights
    (normalised to end at 1.0) for sampling. Hazards are already rescaled (see module docstring).
    """

    word: str
    confusion: float
    drop: float
    split: float
    substitutes: tuple[str, ...]
    cumulative: tuple[float, ...]
    split_to: str | None

    def substitute_weights(self) -> list[tuple[str, float]]:
        """``(substitute, probability given a confusion)`` pairs, for inspection and reports."""
        prev = 0.0
        out = []
        for s, c in zip(self.substitutes, self.cumulative, strict=True):
            out.append((s, c - prev))
            prev = c
        return out


@dataclass(frozen=True)
class _Tables:
    words: dict[str, WordModel]
    merges: dict[tuple[str, str], tuple[float, str]]
    by_code: dict[str, tuple[str, ...]]
    scale: float


def _hand_targets() -> dict[str, list[str]]:
    targets: dict[str, list[str]] = {}
    for word, subs in CONFUSIONS.items():
        targets.setdefault(word, [])
        targets[word].extend(s for s in subs if s != word and s not in targets[word])
    for group in HOMOPHONE_GROUPS:
        for w in group:
            lst = targets.setdefault(w, [])
            lst.extend(o for o in group if o != w and o not in lst)
    return targets


def _derived(word: str, code: str, by_code: Mapping[str, tuple[str, ...]], in_vocab: bool) -> list[str]:
    """Vocabulary words sounding alike and spelled alike.

    In-vocabulary words take neighbours with the same Metaphone code and an edit distance of at
    most two. Out-of-vocabulary words (names, titles) are matched more loosely (codes one edit
    apart, spelling up to three edits): a recogniser forces a word it does not know onto the
    nearest one it does, which is how "play adele" becomes "play idle".
    """
    if not code:
        return []
    if in_vocab:
        limit = min(2, max(1, len(word) // 2))
        pool: list[str] = [o for o in by_code.get(code, ()) if o != word]
    else:
        limit = min(3, max(1, len(word) // 2))
        pool = [
            o for c, ws in by_code.items() if Levenshtein.distance(code, c, score_cutoff=1) <= 1 for o in ws
        ]
    cands = sorted((d, o) for o in pool if (d := Levenshtein.distance(word, o, score_cutoff=limit)) <= limit)
    return [o for _, o in cands[:_MAX_DERIVED]]


def _cumulative(weights: list[float]) -> tuple[float, ...]:
    total = sum(weights)
    acc = 0.0
    out = []
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return tuple(out)


def _raw_model(
    word: str, hand: Mapping[str, list[str]], by_code: Mapping[str, tuple[str, ...]], in_vocab: bool
) -> WordModel:
    """Unscaled hazards for `word`."""
    listed = hand.get(word, [])
    derived = [d for d in _derived(word, jellyfish.metaphone(word), by_code, in_vocab) if d not in listed]
    subs = listed + derived
    weights = [1.0 / (i + 1) ** 1.5 for i in range(len(listed))]
    dscale = _DERIVED_WEIGHT if listed else 1.0
    weights += [dscale / (j + 1) ** 1.5 for j in range(len(derived))]
    if listed:
        conf = _CONF_HAND
    elif derived:
        conf = _CONF_DERIVED if in_vocab else _CONF_OOV
    else:
        conf = 0.0
    if word in CARRIER_WORDS:
        conf *= _CARRIER_FACTOR
    if word in FUNCTION_WORDS:
        drop = _DROP_FUNCTION
    elif len(word) <= 3:
        drop = _DROP_SHORT
    else:
        drop = _DROP_OTHER
    split_to = SPLITS.get(word)
    return WordModel(
        word=word,
        confusion=conf * _jitter(word, "confusion"),
        drop=drop * _jitter(word, "drop"),
        split=_SPLIT * _jitter(word, "split") if split_to else 0.0,
        substitutes=tuple(subs),
        cumulative=_cumulative(weights) if subs else (),
        split_to=split_to,
    )


def _scaled(m: WordModel, scale: float) -> WordModel:
    return WordModel(
        m.word, m.confusion * scale, m.drop * scale, m.split * scale, m.substitutes, m.cumulative, m.split_to
    )


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    """Build every table once per process (a few tens of milliseconds)."""
    hand = _hand_targets()
    vocab: set[str] = set(COMMON_WORDS.split())
    vocab.update(hand)
    for subs in hand.values():
        for s in subs:
            vocab.update(s.split())
    for req in TYPICAL_REQUESTS:
        vocab.update(normalize_request(req).split())
    for (a, b), joined in MERGES.items():
        vocab.update((a, b, joined))
    for w, parts in SPLITS.items():
        vocab.add(w)
        vocab.update(parts.split())
    groups: dict[str, list[str]] = {}
    for w in sorted(vocab):
        groups.setdefault(jellyfish.metaphone(w), []).append(w)
    by_code = {c: tuple(ws) for c, ws in groups.items() if c}
    raw = {w: _raw_model(w, hand, by_code, in_vocab=True) for w in vocab}
    raw_merges = {pair: (_MERGE * _jitter(" ".join(pair), "merge"), m) for pair, m in MERGES.items()}

    # Rescale so an average token of a typical request carries total hazard one.
    total = count = 0.0
    for req in TYPICAL_REQUESTS:
        toks = normalize_request(req).split()
        for i, w in enumerate(toks):
            m = raw[w]
            total += m.confusion + m.drop + m.split
            if i + 1 < len(toks) and (w, toks[i + 1]) in raw_merges:
                total += raw_merges[(w, toks[i + 1])][0]
            count += 1
    scale = count / total
    return _Tables(
        words={w: _scaled(m, scale) for w, m in raw.items()},
        merges={p: (h * scale, m) for p, (h, m) in raw_merges.items()},
        by_code=by_code,
        scale=scale,
    )


@lru_cache(maxsize=65536)
def _oov_model(word: str) -> WordModel:
    t = _tables()
    return _scaled(_raw_model(word, {}, t.by_code, in_vocab=False), t.scale)


def word_model(word: str) -> WordModel:
    """The fixed (speaker-independent) error model of `word` (lower-case, normalised)."""
    m = _tables().words.get(word)
    return m if m is not None else _oov_model(word)


def confusion_table() -> dict[str, tuple[str, ...]]:
    """Every vocabulary word with at least one confusion target, targets most likely first."""
    return {w: m.substitutes for w, m in _tables().words.items() if m.substitutes}


@lru_cache(maxsize=65536)
def _speaker_bias(bias_seed: int, word: str) -> tuple[float, int]:
    """(confusion hazard factor, favourite substitute index or -1) for a biased speaker.

    A fixed share of words become trouble words for the speaker; the rest are made slightly easier
    so the speaker's average rate is unchanged and only *which* words fail is personal.
    """
    if _unit("bias", bias_seed, word) < _TROUBLE_SHARE:
        n = len(word_model(word).substitutes)
        return _TROUBLE_BOOST, (_stable_int("fav", bias_seed, word) % n) if n else -1
    return (1.0 - _TROUBLE_SHARE * _TROUBLE_BOOST) / (1.0 - _TROUBLE_SHARE), -1


# --------------------------------------------------------------------------------------------------
# Evidence, errors and confidence (see the module docstring, "What the recogniser knows").
# --------------------------------------------------------------------------------------------------

#: Spread (standard deviation, in log-odds) of a word's latent evidence around its mean. The larger,
#: the more errors concentrate on weak evidence, and the better evidence separates right from wrong.
_EVIDENCE_SPREAD = 2.0
#: Noise (log-odds) between the latent evidence and the posterior the recogniser reports: per word,
#: and one draw per turn shared by its words (recording conditions the decoder cannot see).
_OBSERVATION_NOISE = 2.9
_TURN_NOISE = 0.6
#: Correlation of the latent draws of two turns in which one person says the same words (the part
#: of how they are heard that is the person's, not the moment's).
_REPEAT_CORRELATION = 0.985
#: Chance that the runner-up at a misrecognised position is what was said (else another confusion).
_RUNNER_UP_IS_REFERENCE = 0.35
_EVIDENCE_CAP = 9.0
_SQRT2 = math.sqrt(2.0)
#: Probit approximation of E[sigmoid(x)] for x ~ N(mu, s^2): sigmoid(mu / sqrt(1 + pi s^2 / 8)).
_SPREAD_FACTOR = math.sqrt(1.0 + math.pi * _EVIDENCE_SPREAD**2 / 8.0)


def _phi(z: float) -> float:
    """The standard normal distribution function."""
    return 0.5 * (1.0 + math.erf(z / _SQRT2))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _evidence_mean(p_error: float) -> float:
    """Mean latent evidence (log-odds of hearing the word right) of a word whose marginal error
    probability is `p_error`: errors then happen at exactly that rate on average."""
    p = min(1.0 - 1e-6, max(1e-6, p_error))
    return min(_EVIDENCE_CAP, math.log((1.0 - p) / p) * _SPREAD_FACTOR)


@dataclass
class _Draws:
    """A turn's random draws per reference position: `z` evidence deviations and `u` error draws
    (each the person's shared part mixed with this turn's, so standard normal / uniform), `v` and
    `w` uniforms that choose the kind of error and the substitute."""

    z: list[float]
    u: list[float]
    v: list[float]
    w: list[float]


def _draws(n: int, turn: random.Random, shared: random.Random | None) -> _Draws:
    rho = _REPEAT_CORRELATION if shared is not None else 0.0
    own = math.sqrt(1.0 - rho * rho)

    def mix() -> float:
        s = shared.gauss(0.0, 1.0) if shared is not None else 0.0
        return rho * s + own * turn.gauss(0.0, 1.0)

    z, u, v, w = [], [], [], []
    for _ in range(n):
        z.append(mix())
        u.append(_phi(mix()))
        v.append(_phi(mix()))
        w.append(_phi(mix()))
    return _Draws(z, u, v, w)


def word_posteriors(evidence: list[float], noise: random.Random) -> list[float]:
    """What the recogniser reports for each reference position: its latent evidence (log-odds of
    being right) seen through per-word and per-turn noise. Takes no segments, no error flags, no
    reference: a real recogniser's posterior comes from its scores, never from the truth."""
    turn = noise.gauss(0.0, _TURN_NOISE)
    return [_sigmoid(e + turn + noise.gauss(0.0, _OBSERVATION_NOISE)) for e in evidence]


@dataclass
class _Seg:
    """One aligned piece of the channel's output: reference words and what was heard for them,
    `pos` the index of its first reference word."""

    ref: tuple[str, ...]
    hyp: tuple[str, ...]
    kind: str  # ok | confusion | drop | merge | split
    pos: int = 0

    @property
    def is_error(self) -> bool:
        return self.kind != "ok"


@dataclass
class _Heard:
    """Everything one recognition drew: segments, per-position latent evidence and posteriors."""

    segs: list[_Seg]
    evidence: list[float]
    posteriors: list[float]
    confidence: float


def _pick(m: WordModel, u: float, favourite: int = -1, avoid: str | None = None) -> str:
    """The substitute a uniform `u` selects (a trouble word's favourite first, when it has one)."""
    if favourite >= 0:
        if u < _TROUBLE_PREFERENCE:
            choice = m.substitutes[favourite]
            return _avoid(m, choice, avoid)
        u = (u - _TROUBLE_PREFERENCE) / (1.0 - _TROUBLE_PREFERENCE)
    choice = m.substitutes[min(bisect_right(m.cumulative, u), len(m.substitutes) - 1)]
    return _avoid(m, choice, avoid)


def _avoid(m: WordModel, choice: str, avoid: str | None) -> str:
    if choice == avoid and len(m.substitutes) > 1:
        idx = m.substitutes.index(choice)
        choice = m.substitutes[(idx + 1) % len(m.substitutes)]
    return choice


def _join(segs: list[_Seg]) -> str:
    return " ".join(w for s in segs for w in s.hyp)


class NoisyChannelAsr:
    """Simulated ASR component: fills `turn.asr` with an n-best list heard through a systematic
    noisy channel. `error_rate` ~ word error rate for an average speaker on typical requests.

    Params: `error_rate` (default 0.15), `n` (n-best size, default 3), `seed` (component seed).
    Raises `StageFailure("asr-no-text")` when nothing is heard (every word dropped, or no words).
    """

    name = "asr"
    engine = ENGINE

    def __init__(self, error_rate: float = 0.15, n: int = 3, seed: int = 0) -> None:
        if error_rate < 0:
            raise ValueError(f"error_rate must be >= 0, got {error_rate}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.error_rate = error_rate
        self.n = n
        self.seed = seed

    def __call__(self, state: TurnState) -> TurnState:
        state.turn.asr = AsrStage(engine=ENGINE)
        state.turn.asr = self.recognize(state.utterance, state.turn.turn_id)
        return state

    def recognize(self, utterance: Utterance, turn_id: str) -> AsrStage:
        """Recognise `utterance` for turn `turn_id`; pure given (params, utterance, turn_id)."""
        return self.recognize_detailed(utterance, turn_id)[0]

    def recognize_detailed(
        self, utterance: Utterance, turn_id: str
    ) -> tuple[AsrStage, list[tuple[str, float]]]:
        """`recognize`, plus the 1-best's words with the posteriors the recogniser gave them (what
        a real decoder's word lattice holds; not part of the log contract, for calibration)."""
        tokens = normalize_request(utterance.text).split()
        if not tokens:
            raise StageFailure(StageError.ASR_NO_TEXT, "no words in the utterance")
        heard = self._hear(tokens, utterance, turn_id)
        best = _join(heard.segs)
        if not best:
            raise StageFailure(StageError.ASR_NO_TEXT, "every word was lost in noise")
        nbest = [AsrHypothesis(text=best, confidence=heard.confidence)]
        if self.n > 1:
            rng = random.Random(_stable_int("asr-nbest", self.seed, turn_id))
            alts = self._alternatives(heard, best, rng, self.n - 1)
            confs = _alternative_confidences(heard.confidence, [c for _, c in alts])
            for (text, _), conf in zip(alts, confs, strict=True):
                nbest.append(AsrHypothesis(text=text, confidence=conf))
        words = [(w, heard.posteriors[s.pos]) for s in heard.segs for w in s.hyp]
        return AsrStage(engine=ENGINE, nbest=nbest), words

    # ----------------------------------------------------------------------------------------------

    def _hear(self, tokens: list[str], utterance: Utterance, turn_id: str) -> _Heard:
        profile = utterance.noise_profile
        rate = max(0.0, float(profile.get("rate", 1.0)))
        r = self.error_rate * rate / (_CAREFUL_DIVISOR if utterance.careful else 1.0)
        mult = {k: max(0.0, float(profile.get(k, 1.0))) for k in _PROFILE_KEYS}
        bias_seed = int(profile["bias_seed"]) if "bias_seed" in profile else None
        turn = random.Random(_stable_int("asr", self.seed, turn_id))
        shared = (
            random.Random(
                _stable_int(
                    "asr-person", self.seed, utterance.speaker_id, " ".join(tokens), utterance.careful
                )
            )
            if utterance.speaker_id
            else None
        )
        draws = _draws(len(tokens), turn, shared)
        hazards = self._hazards(tokens, mult, bias_seed)
        evidence = [
            _evidence_mean(1.0 - math.exp(-r * h.total)) + _EVIDENCE_SPREAD * z
            for h, z in zip(hazards, draws.z, strict=True)
        ]
        segs = self._corrupt(tokens, hazards, evidence, draws)
        posteriors = word_posteriors(evidence, random.Random(_stable_int("asr-observe", self.seed, turn_id)))
        confidence = math.exp(sum(math.log(max(p, 1e-12)) for p in posteriors) / len(posteriors))
        return _Heard(segs, evidence, posteriors, min(0.99, max(0.01, confidence)))

    @staticmethod
    def _hazards(tokens: list[str], mult: Mapping[str, float], bias_seed: int | None) -> list[_Hazard]:
        tables = _tables()
        out = []
        n = len(tokens)
        for i, w in enumerate(tokens):
            m = word_model(w)
            fav = -1
            conf = m.confusion * mult["confusion"]
            if bias_seed is not None and m.substitutes:
                factor, fav = _speaker_bias(bias_seed, w)
                conf *= factor
            merge_h, merged = 0.0, ""
            if i + 1 < n:
                mg = tables.merges.get((w, tokens[i + 1]))
                if mg is not None:
                    merge_h, merged = mg[0] * mult["merge"], mg[1]
            out.append(_Hazard(m, conf, m.drop * mult["drop"], m.split * mult["split"], merge_h, merged, fav))
        return out

    @staticmethod
    def _corrupt(tokens: list[str], hazards: list[_Hazard], evidence: list[float], d: _Draws) -> list[_Seg]:
        """Errors from evidence: position i goes wrong when its error draw falls below the chance
        that weak evidence loses, sigmoid(-evidence[i]); which error, and which substitute, are the
        turn's other draws."""
        segs: list[_Seg] = []
        i = 0
        n = len(tokens)
        while i < n:
            w, h = tokens[i], hazards[i]
            if h.total <= 0.0 or d.u[i] >= _sigmoid(-evidence[i]):
                segs.append(_Seg((w,), (w,), "ok", i))
                i += 1
                continue
            x = d.v[i] * h.total
            if x < h.merge:
                segs.append(_Seg((w, tokens[i + 1]), (h.merged,), "merge", i))
                i += 2
                continue
            x -= h.merge
            if x < h.confusion:
                segs.append(_Seg((w,), tuple(_pick(h.model, d.w[i], h.favourite).split()), "confusion", i))
            elif x < h.confusion + h.split:
                segs.append(_Seg((w,), tuple((h.model.split_to or w).split()), "split", i))
            else:
                segs.append(_Seg((w,), (), "drop", i))
            i += 1
        return segs

    @staticmethod
    def _alternatives(heard: _Heard, best: str, rng: random.Random, k: int) -> list[tuple[str, float]]:
        """Runner-up hypotheses, as a decoder's n-best holds them: the 1-best with its least
        certain place(s) heard the other way. Places are ranked by the recogniser's own posteriors;
        the other way is the runner-up of the close call there, which for a misrecognised place
        is (mostly) what was said and for a right one a confusion. Returns (text, log-odds cost)
        pairs, most plausible first."""
        segs = heard.segs
        flips: list[tuple[float, int, tuple[str, ...]]] = []
        for j, s in enumerate(segs):
            post = heard.posteriors[s.pos]
            cost = math.log(max(post, 1e-9) / max(1.0 - post, 1e-9))
            m = word_model(s.ref[0])
            if s.is_error:
                if rng.random() < _RUNNER_UP_IS_REFERENCE or not m.substitutes:
                    other: tuple[str, ...] | None = s.ref
                else:
                    other = tuple(_pick(m, rng.random(), avoid=" ".join(s.hyp)).split())
            elif m.substitutes:
                other = tuple(_pick(m, rng.random()).split())
            elif s.ref[0] in FUNCTION_WORDS:
                other = ()
            else:
                other = None
            if other is not None and other != s.hyp:
                flips.append((cost, j, other))
        flips.sort()
        cands: list[tuple[float, str]] = []
        top = flips[: k + 1]
        for cost, j, other in top:
            cands.append((cost, _join([*segs[:j], _Seg(segs[j].ref, other, "alt"), *segs[j + 1 :]])))
        for a in range(len(top)):
            for b in range(a + 1, len(top)):
                (ca, ja, oa), (cb, jb, ob) = top[a], top[b]
                alt = list(segs)
                alt[ja] = _Seg(segs[ja].ref, oa, "alt")
                alt[jb] = _Seg(segs[jb].ref, ob, "alt")
                cands.append((ca + cb, _join(alt)))
        cands.sort(key=lambda c: c[0])
        out: list[tuple[str, float]] = []
        seen = {best}
        for cost, text in cands:
            if text and text not in seen:
                seen.add(text)
                out.append((text, cost))
                if len(out) == k:
                    break
        return out


@dataclass(frozen=True)
class _Hazard:
    """A reference position's hazards in this turn (speaker profile and bias applied)."""

    model: WordModel
    confusion: float
    drop: float
    split: float
    merge: float
    merged: str
    favourite: int

    @property
    def total(self) -> float:
        return self.confusion + self.drop + self.split + self.merge


def _alternative_confidences(top: float, costs: list[float]) -> list[float]:
    """Confidences of the alternatives: they share 1 - `top` by a softmax of their negated costs
    (log-odds the recogniser gave the places they change), with one extra unit share for
    everything unlisted; each kept strictly below the one before."""
    if not costs:
        return []
    weights = [math.exp(-max(-30.0, min(30.0, c))) for c in costs]
    z = sum(weights) + 1.0
    out = []
    prev = top
    for wgt in weights:
        c = min((1.0 - top) * wgt / z, prev * 0.95)
        out.append(c)
        prev = c
    return out


register("asr.noisy_channel.v1")(NoisyChannelAsr)
