"""The miner's shared vocabulary: absorbing-state names, the edge and solution schemas, the
component-solver protocol and rule ids. Every step module and every engine (e.g. Spark) speaks it,
so it depends on nothing else of the package."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

#: Absorbing states in edge tables. Normalized text is lower case, so it never starts with these.
#: SUCCESS_PREFIX + text is a text's own success; SUCCESS_PREFIX + INTERPRETATION_MARK + interpretation
#: an interpretation group (normalized text never contains "@", so the two never collide).
SUCCESS_PREFIX = "__SUCCESS__:"
INTERPRETATION_MARK = "@"
FAILURE = "__FAILURE__"

EDGE_SCHEMA = pa.schema(
    [("src", pa.string()), ("dst", pa.string()), ("count", pa.int64()), ("distinct_users", pa.int64())]
)

#: Per source: its best success state g* (`target_state`, an EDGE_SCHEMA dst; null if it reaches no
#: success another text feeds) with B[s, g*] (`probability`), the target text chosen in g* (null if
#: none qualifies), its own success N[s, s] r_s, its failure B[s, FAILURE] and its observation count.
SOLUTION_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_count", pa.int64()),
        ("target", pa.string()),
        ("probability", pa.float64()),
        ("source_success", pa.float64()),
        ("failure", pa.float64()),
        ("target_state", pa.string()),
    ]
)

Strategy = Literal["auto", "rows", "columns"]
_IntArr = npt.NDArray[np.int64]
_FloatArr = npt.NDArray[np.float64]


class ComponentSolver(Protocol):
    """Solves the candidate sources of many components elsewhere (e.g. one Spark group per component)
    for `MarkovRewriteMiner.fit(..., solver=...)`.

    Gets `edges` (EDGE_SCHEMA plus an int64 `component`; only components holding a source, every edge
    of each) and the candidate `sources`; must return SOLUTION_SCHEMA with one row per source, in any
    order, equal to `solve_component(edges of its component, sources=its sources in ascending order,
    strategy=..., min_probability=...)`."""

    def __call__(
        self, edges: pa.Table, sources: Sequence[str], *, strategy: Strategy, min_probability: float
    ) -> pa.Table: ...


def rule_id_for(source: str, target: str) -> str:
    """Stable id of the rule source -> target (same pair, same id, in every run and version)."""
    return "rw-" + hashlib.sha1(f"{source}\t{target}".encode()).hexdigest()[:16]
