"""Absorbing-Markov-chain rewrite miner (Ponnusamy et al., AAAI 2020) with self-aware feedback
(NAACL 2022 Industry).

Transient states are the normalized texts the NLU read. Every turn of a rephrase chain moves to the
next turn; the last turn absorbs into a SUCCESS state when the chain succeeded, else into FAILURE.
With P = [[Q, R], [0, I]], absorption probabilities are B = (I - Q)^-1 R = N R; per connected
component we factor I - Q once (sparse LU) and solve for as many rows (one per source) or columns
(one per success state) as is cheaper. No dense inverse is ever formed.

Success states are grouped by interpretation (`group_by_interpretation`, the default): a successful
last turn whose NLU interpretation is known (chains' `interpretations`, see
`logs.flat.interpretation`: intent plus resolved slots) absorbs into SUCCESS(@interpretation), else
into SUCCESS(its text). Users who rephrase a failed request into *different* texts that mean the
same thing then pool their success mass instead of fragmenting it over texts. For a source s:
  * g* = argmax_g B[s, SUCCESS(g)] over the groups that some text other than s, reachable from s,
    feeds (the group mass counts s's own successes in g too); probability = B[s, SUCCESS(g*)];
    ties: the smaller state name;
  * the target is a text u != s reachable from s that feeds g* and for which g* holds at least half
    of u's successful chain endings (so rewriting to u reproduces g*, and a context-dependent text
    that mostly means something else is never picked): the one with the most successful endings in
    g*, then the most distinct users among them, then the smallest text; none such: no rule;
  * source_success = N[s, s] * r_s, the chance that s itself succeeds (any interpretation), as
    before; publishing needs probability >= min_probability and >= source_success + margin;
  * support: chains that succeeded with their last turn absorbed into g*, whose last text is not
    s and where s occurs earlier; distinct_users counts their users.
With every interpretation null each group is one text, and g*, the target, the probabilities and
the margin are exactly the per-text miner's (u* = argmax_{u != s} B[s, SUCCESS(u)]); only support
still counts successful chains. `group_by_interpretation=False` is the per-text miner throughout,
support being the chains where s is followed later by u*.

The pipeline is three pure steps, each usable on its own (e.g. from Spark):
`count_transitions(chains)` -> edges; `assign_components(edges)` -> edges + component;
`solve_component(edges of one component)` -> best group and target per source. `MarkovRewriteMiner.fit` runs
the same steps on integer-encoded data, then applies the publishing rules and the self-aware test.

Graph distortion: once a rewrite s -> t is live, a turn where it fired was *read as t*, so it is a
turn of node t (nlu_texts), never of s; otherwise the source would look successful and the rule would
be dropped (then re-mined, then dropped...). Whether a live rule still helps is judged on the turns
where it fired, against the source's un-rewritten turns: Beta(successes + a, failures + b) each, kept
while P(theta_rule > theta_source) >= keep_probability.
"""

from selflearn.contracts.chains import CHAIN_SCHEMA
from selflearn.rewrite.markov.compare import prob_better
from selflearn.rewrite.markov.edges import assign_components, count_transitions, independent_principals
from selflearn.rewrite.markov.miner import MarkovRewriteMiner
from selflearn.rewrite.markov.schema import (
    EDGE_SCHEMA,
    FAILURE,
    INTERPRETATION_MARK,
    SOLUTION_SCHEMA,
    SUCCESS_PREFIX,
    ComponentSolver,
    Strategy,
    rule_id_for,
)
from selflearn.rewrite.markov.solve import solve_component
from selflearn.rewrite.table import REWRITE_SCHEMA

__all__ = [
    "CHAIN_SCHEMA",
    "EDGE_SCHEMA",
    "FAILURE",
    "INTERPRETATION_MARK",
    "REWRITE_SCHEMA",
    "SOLUTION_SCHEMA",
    "SUCCESS_PREFIX",
    "ComponentSolver",
    "MarkovRewriteMiner",
    "Strategy",
    "assign_components",
    "count_transitions",
    "independent_principals",
    "prob_better",
    "rule_id_for",
    "solve_component",
]
