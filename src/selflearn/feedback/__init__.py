"""Implicit and explicit feedback read from the interaction log alone, never from a truth table.

Owns: candidate (request, later request) pairs within a session (`pairs`), rephrase detectors
that score them (`rephrase_baseline`: a trained lexical/phonetic/log-signal model and a hand-set
heuristic for when no labels exist), per-turn defect scores from barge-in, rephrase, abandonment,
stage errors and explicit feedback (`defect`), and rephrase chains with outcomes, the input of the
rewrite miner (`chains`).

Every job step is a pure function over an Arrow table of complete sessions returning a table of a
fixed schema, so DuckDB/Polars in-process and Spark `applyInArrow` give the same result however
sessions are partitioned. `detect_sessions` is the one per-session-group step engines call.
"""

from selflearn.contracts.chains import CHAIN_SCHEMA, OUTCOMES
from selflearn.feedback.chains import build_chains, detect_sessions
from selflearn.feedback.defect import FEEDBACK_SCHEMA, DefectScorer
from selflearn.feedback.pairs import (
    LINKS_SCHEMA,
    PAIRS_SCHEMA,
    SCORED_PAIRS_SCHEMA,
    candidate_pairs,
    request_turns,
    select_links,
)
from selflearn.feedback.rephrase_baseline import (
    FEATURE_NAMES,
    HeuristicRephraseDetector,
    LexicalPhoneticRephraseDetector,
    PairScorer,
    pair_features,
)

__all__ = [
    "CHAIN_SCHEMA",
    "FEATURE_NAMES",
    "FEEDBACK_SCHEMA",
    "LINKS_SCHEMA",
    "OUTCOMES",
    "PAIRS_SCHEMA",
    "SCORED_PAIRS_SCHEMA",
    "DefectScorer",
    "HeuristicRephraseDetector",
    "LexicalPhoneticRephraseDetector",
    "PairScorer",
    "build_chains",
    "candidate_pairs",
    "detect_sessions",
    "pair_features",
    "request_turns",
    "select_links",
]
