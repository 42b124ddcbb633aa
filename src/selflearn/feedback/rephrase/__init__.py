"""Contextual rephrase detection and the baselines it is measured against.

`span_model.ContextualRephraseDetector` fine-tunes the shipped MiniLM to read a request in its
dialogue context (`context`: response, following requests, time-gap and barge-in tokens) and
extract the span of the request that rephrases it, or none. `baselines` holds the comparison
detectors; the lexical/phonetic one lives in `feedback.rephrase_baseline`. All expose the
`PairScorer` interface (`predict_proba` over candidate pairs), so the miner takes any of them.
"""

from selflearn.feedback.rephrase.context import ContextConfig, Contexts, build_contexts
from selflearn.feedback.rephrase.span_model import ContextualRephraseDetector, SpanConfig, hard_negatives

__all__ = [
    "ContextConfig",
    "Contexts",
    "ContextualRephraseDetector",
    "SpanConfig",
    "build_contexts",
    "hard_negatives",
]
