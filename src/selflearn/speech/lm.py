"""Language models and pronunciations for a real recogniser, built from selflearn's training text.

A recogniser only hears what its language model lets it hear, so the LM must come from what the
assistant was trained on (the NLU's training requests, plus unlabeled in-domain text such as
SLURP's ``lm.txt``), and never from the requests it is evaluated on: that would leak the answers.
`build_language_model` takes the sentences and does not know where they came from; the caller owns
that rule.

The model is an interpolated modified Kneser-Ney n-gram model (Chen & Goodman 1998), order 3 by
default, written as a standard backoff ARPA file:

* counts at the highest order, and of n-grams starting with ``<s>``, are raw counts; lower orders
  use continuation counts N1+(. w) (how many distinct words precede the n-gram);
* discounts D1, D2, D3+ per order from counts-of-counts (Y = n1 / (n1 + 2 n2), D1 = 1 - 2Y n2/n1,
  D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3), clamped to [0.05, k - 0.05]; with too little data for
  that (a zero count-of-count) a single absolute discount D = Y is used;
* p(w | h) = max(c(hw) - D(c), 0) / c(h) + gamma(h) p(w | h'), gamma(h) = sum of discounts / c(h);
  the unigram level interpolates with the uniform distribution over the vocabulary, so every word
  has a non-zero probability;
* the ARPA file lists p(w | h) for seen n-grams and the backoff weight bow(h) = gamma(h): with
  interpolated estimates this is exactly the weight that makes sum_w p(w | h) = 1 for every history.

Pronunciations come from the CMU dictionary that ships with pocketsphinx, restricted to the LM's
vocabulary (all listed variants). A word CMUdict lacks gets a pronunciation only when it is built
from dictionary words: a compound of two of them ("audiobook" = audio + book) or a plural or
possessive ("playlists" = playlist + S/Z/IH Z). There is no general letter-to-sound guessing: the
remaining unknown words (rare names, digits, typos) are mapped to ``<unk>`` before counting, so the
LM stays normalised and the recogniser simply cannot output them (it says a known word instead, the
error a closed-vocabulary recogniser makes). `LanguageModel.oov_words` lists them.

Built models are cached on disk under a hash of (sentences, order, extra words, dictionary file,
format version), so the same training text is modelled once.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from selflearn.speech.cache import default_cache_dir, stable_key
from selflearn.text.ngram import BOS, EOS, UNK, KneserNeyLM, tokenize
from selflearn.util.atomic import atomic_write_text

__all__ = [
    "BOS",
    "EOS",
    "UNK",
    "ArpaModel",
    "KneserNeyLM",
    "LanguageModel",
    "build_language_model",
    "cmudict_path",
    "derived_pronunciation",
    "load_pronunciations",
    "read_arpa",
    "tokenize",
]

LM_FORMAT_VERSION = 3
_ALT = re.compile(r"\(\d+\)$")


def cmudict_path() -> Path:
    """The CMU pronouncing dictionary bundled with pocketsphinx (needs pocketsphinx installed)."""
    try:
        import pocketsphinx
    except ImportError as e:  # pragma: no cover - exercised only without pocketsphinx
        raise ImportError(
            "pocketsphinx is needed for its dictionary and acoustic model: pip install 'pocketsphinx>=5'"
        ) from e
    return Path(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"))


@lru_cache(maxsize=4)
def _read_dict(path: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = defaultdict(list)
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2 or parts[0].startswith(";;;"):
                continue
            word = _ALT.sub("", parts[0])
            phones = []
            for p in parts[1:]:
                if p.startswith("#"):  # trailing comment
                    break
                phones.append(p)
            if phones:
                out[word].append(" ".join(phones))
    return {w: tuple(ps) for w, ps in out.items()}


def load_pronunciations(path: str | Path | None = None) -> Mapping[str, tuple[str, ...]]:
    """word -> its pronunciations (phone strings), from a CMUdict-format file (default: bundled)."""
    return _read_dict(str(path or cmudict_path()))


_VOICELESS = {"P", "T", "K", "F", "TH"}
_SIBILANT = {"S", "Z", "SH", "ZH", "CH", "JH"}


def derived_pronunciation(word: str, prons: Mapping[str, tuple[str, ...]]) -> str | None:
    """A pronunciation for `word` built from dictionary words, or None.

    Plurals and possessives (``x's``, ``xs``, ``xes``) add the regular suffix to x's first
    pronunciation; compounds join the first pronunciations of two dictionary words of at least
    three letters each, preferring the longest first part.
    """
    stems: list[str] = []
    if word.endswith("'s"):
        stems.append(word[:-2])
    elif word.endswith("es"):
        stems += [word[:-2], word[:-1]]
    elif word.endswith("s"):
        stems.append(word[:-1])
    for stem in stems:
        base = prons.get(stem) or (
            (b,) if len(stem) >= 6 and (b := derived_pronunciation(stem, prons)) else None
        )
        if base:
            last = base[0].split()[-1]
            suffix = "IH Z" if last in _SIBILANT else "S" if last in _VOICELESS else "Z"
            return f"{base[0]} {suffix}"
    for cut in range(len(word) - 3, 2, -1):
        head, tail = word[:cut], word[cut:]
        if head in prons and tail in prons:
            return f"{prons[head][0]} {prons[tail][0]}"
    return None


@lru_cache(maxsize=4)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _digest(path: Path) -> str:
    st = path.stat()
    return _file_digest(str(path), st.st_size, st.st_mtime_ns)


Gram = tuple[str, ...]

# --------------------------------------------------------------------------------------------------
# reading ARPA back (tests, scoring)


@dataclass
class ArpaModel:
    """An ARPA backoff model read from text: `logprob[n][gram]`, `backoff[gram]` (log10)."""

    order: int
    counts: dict[int, int]
    logprob: dict[int, dict[Gram, float]]
    backoff: dict[Gram, float]

    @property
    def vocabulary(self) -> list[str]:
        return [g[0] for g in self.logprob.get(1, {})]

    def prob(self, word: str, history: Sequence[str] = ()) -> float:
        """p(word | history) with standard ARPA backoff."""
        h = tuple(history)[-(self.order - 1) :] if self.order > 1 else ()
        log_w = 0.0
        while True:
            g = (*h, word)
            lp = self.logprob.get(len(g), {}).get(g)
            if lp is not None:
                return 10.0 ** (log_w + lp)
            if not h:
                return 0.0
            log_w += self.backoff.get(h, 0.0)
            h = h[1:]


def read_arpa(path: str | Path) -> ArpaModel:
    """Parse an ARPA file; raises ValueError naming the line when a section is malformed or a
    section's entry count differs from its header."""
    counts: dict[int, int] = {}
    logprob: dict[int, dict[Gram, float]] = {}
    backoff: dict[Gram, float] = {}
    section: int | None = None
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            s = line.strip()
            if not s:
                continue
            if s.startswith("ngram ") and section is None:
                n, c = s[6:].split("=")
                counts[int(n)] = int(c)
            elif s.endswith("-grams:") and s.startswith("\\"):
                section = int(s[1 : s.index("-")])
                logprob[section] = {}
            elif s == "\\end\\":
                break
            elif s == "\\data\\":
                continue
            elif section is not None:
                parts = s.split()
                if len(parts) not in (section + 1, section + 2):
                    raise ValueError(f"{path}:{lineno}: expected {section} words in a {section}-gram line")
                g = tuple(parts[1 : section + 1])
                logprob[section][g] = float(parts[0])
                if len(parts) == section + 2:
                    backoff[g] = float(parts[-1])
    for order, expected in counts.items():
        got = len(logprob.get(order, {}))
        if got != expected:
            raise ValueError(f"{path}: header says ngram {order}={expected} but the file lists {got}")
    return ArpaModel(order=max(counts) if counts else 0, counts=counts, logprob=logprob, backoff=backoff)


# --------------------------------------------------------------------------------------------------
# building and caching a recogniser's model


@dataclass(frozen=True)
class LanguageModel:
    """A built model on disk: ARPA file, pronunciation dictionary for exactly its vocabulary, and
    `key` (hash of the inputs, part of every recognition cache key)."""

    arpa_path: Path
    dict_path: Path
    key: str
    order: int
    vocabulary_size: int
    oov_words: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "arpa_path": str(self.arpa_path),
            "dict_path": str(self.dict_path),
            "key": self.key,
            "order": self.order,
            "vocabulary_size": self.vocabulary_size,
            "oov_words": list(self.oov_words),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> LanguageModel:
        return cls(
            arpa_path=Path(str(obj["arpa_path"])),
            dict_path=Path(str(obj["dict_path"])),
            key=str(obj["key"]),
            order=int(str(obj["order"])),
            vocabulary_size=int(str(obj["vocabulary_size"])),
            oov_words=tuple(str(w) for w in oov) if isinstance(oov := obj.get("oov_words"), list) else (),
        )


def build_language_model(
    sentences: Iterable[str],
    *,
    cache_dir: str | Path | None = None,
    order: int = 3,
    extra_words: Iterable[str] = (),
    dictionary: str | Path | None = None,
) -> LanguageModel:
    """Build (or fetch from the cache) an ARPA LM and matching dictionary from training `sentences`.

    Pass only text the assistant may train on (NLU training requests, unlabeled in-domain text),
    never evaluation requests. Words missing from the pronunciation `dictionary` (default: the
    CMUdict bundled with pocketsphinx) become ``<unk>``; `extra_words` are added to the vocabulary
    when the dictionary knows them. Files land in ``<cache_dir>/lm/<key>/``.
    """
    dict_file = Path(dictionary) if dictionary is not None else cmudict_path()
    prons = load_pronunciations(dict_file)
    tokenized = [toks for s in sentences if (toks := tokenize(s))]
    extras = sorted({w for e in extra_words for w in tokenize(e)})
    key = stable_key(
        "lm", LM_FORMAT_VERSION, order, sorted(" ".join(t) for t in tokenized), extras, _digest(dict_file)
    )
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out = root / "lm" / key[:24]
    meta_path = out / "meta.json"
    if meta_path.exists():
        try:
            lm = LanguageModel.from_json(json.loads(meta_path.read_text(encoding="utf-8")))
            if lm.key == key and lm.arpa_path.exists() and lm.dict_path.exists():
                return lm
        except (ValueError, KeyError, json.JSONDecodeError):
            pass  # rebuild over a damaged entry

    derived: dict[str, tuple[str, ...]] = {}
    oov: set[str] = set()

    def known(word: str) -> bool:
        if word in prons or word in derived:
            return True
        if word in oov:
            return False
        guess = derived_pronunciation(word, prons)
        if guess is None:
            oov.add(word)
            return False
        derived[word] = (guess,)
        return True

    mapped = [[t if known(t) else UNK for t in toks] for toks in tokenized]
    model = KneserNeyLM(order=order, extra_words=[w for w in extras if known(w)]).fit(mapped)
    arpa_path, dict_path = out / "model.arpa", out / "model.dict"
    atomic_write_text(arpa_path, model.to_arpa())
    dict_lines = []
    for w in model.vocabulary_:
        for i, p in enumerate(prons.get(w) or derived.get(w, ())):
            dict_lines.append(f"{w}{'' if i == 0 else f'({i + 1})'} {p}")
    atomic_write_text(dict_path, "\n".join(dict_lines) + "\n")
    lm = LanguageModel(
        arpa_path=arpa_path,
        dict_path=dict_path,
        key=key,
        order=order,
        vocabulary_size=len(model.vocabulary_),
        oov_words=tuple(sorted(oov)),
    )
    atomic_write_text(meta_path, json.dumps(lm.to_json(), indent=1))  # last: marks the entry complete
    return lm
