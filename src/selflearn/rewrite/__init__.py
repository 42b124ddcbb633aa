"""Rewrites learned from users' rephrases: the absorbing-Markov-chain miner (with self-aware
feedback), the versioned rewrite-table store (atomic publish, rollback, disable, delete a user) and
the runtime precomputed rewriter that applies the live table between ASR and NLU."""

from selflearn.rewrite.markov import (
    CHAIN_SCHEMA,
    EDGE_SCHEMA,
    REWRITE_SCHEMA,
    SOLUTION_SCHEMA,
    MarkovRewriteMiner,
    assign_components,
    count_transitions,
    prob_better,
    rule_id_for,
    solve_component,
)
from selflearn.rewrite.runtime import PrecomputedRewriter
from selflearn.rewrite.store import RewriteStore, StoreError
from selflearn.rewrite.table import RewriteRule, RewriteTable

__all__ = [
    "CHAIN_SCHEMA",
    "EDGE_SCHEMA",
    "REWRITE_SCHEMA",
    "SOLUTION_SCHEMA",
    "MarkovRewriteMiner",
    "PrecomputedRewriter",
    "RewriteRule",
    "RewriteStore",
    "RewriteTable",
    "StoreError",
    "assign_components",
    "count_transitions",
    "prob_better",
    "rule_id_for",
    "solve_component",
]
