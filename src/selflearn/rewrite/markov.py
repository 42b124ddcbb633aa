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

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.sparse.linalg import splu, spsolve_triangular
from scipy.stats import beta as beta_dist

from selflearn.contracts.chains import CHAIN_SCHEMA
from selflearn.contracts.domain import protected_by_default
from selflearn.rewrite.table import REWRITE_SCHEMA, RewriteTable
from selflearn.text.normalize import normalize_request

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
    "assign_components",
    "count_transitions",
    "prob_better",
    "rule_id_for",
    "solve_component",
]

_TS = pa.timestamp("us", tz="UTC")

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

_FEEDBACK_FIELDS = ("fired_successes", "fired_failures", "source_successes", "source_failures", "p_better")
_LIST_COLUMNS = ("turn_ids", "asr_texts", "nlu_texts", "rule_ids", "intents", "timestamps", "defective")
_BLOCK_ELEMS = 1 << 21  # dense solve blocks hold at most this many float64 (16 MiB)

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


# --------------------------------------------------------------------------------------------------
# Step 0: explode chains into integer-encoded turns


@dataclass
class _Turns:
    """Chains flattened to one entry per turn (in chain order), texts encoded as sorted-vocab ids."""

    n_chains: int
    chain: _IntArr  # chain row of each turn
    pos: _IntArr  # position in its chain
    last: npt.NDArray[np.bool_]
    node: _IntArr  # id of the normalized nlu text in `vocab`
    vocab: npt.NDArray[np.object_]  # sorted unique normalized texts
    user: _IntArr  # per turn, id in `users`
    chain_user: _IntArr  # per chain, id in `users`
    users: npt.NDArray[np.object_]
    chain_success: npt.NDArray[np.bool_]  # per chain
    rule_id: pa.Array  # per turn (string, nullable)
    intent: pa.Array  # per turn (string, nullable)
    ts: _IntArr  # per turn, microseconds since epoch (min int64 if null)
    defective: npt.NDArray[np.int8]  # per turn: 1 defective, 0 not, -1 unknown
    session: pa.Array  # per chain
    chain_last_ts: _IntArr  # per chain
    group: _IntArr  # per turn: the success group it absorbs into if it ends a successful chain
    groups: npt.NDArray[np.object_]  # sorted group names: texts, and "@" + interpretation if grouped


def _col(chains: pa.Table, name: str) -> pa.Array:
    col = chains[name]
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _encode_strings(values: pa.Array) -> tuple[_IntArr, npt.NDArray[np.object_]]:
    """Codes into a sorted vocabulary of the distinct values (null -> "")."""
    enc = pc.dictionary_encode(pc.fill_null(values, ""))
    uniq = np.array(enc.dictionary.to_pylist(), dtype=object)
    vocab, inv = np.unique(uniq, return_inverse=True)
    codes = inv.reshape(-1).astype(np.int64)[enc.indices.to_numpy(zero_copy_only=False)]
    return codes, vocab


def _encode_texts(values: pa.Array) -> tuple[_IntArr, npt.NDArray[np.object_]]:
    """Like `_encode_strings` but normalizing each distinct text once (cheap: ~distinct count)."""
    enc = pc.dictionary_encode(pc.fill_null(values, ""))
    norm = np.array([normalize_request(t) for t in enc.dictionary.to_pylist()], dtype=object)
    vocab, inv = np.unique(norm, return_inverse=True) if len(norm) else (norm, np.zeros(0, np.int64))
    codes = inv.reshape(-1).astype(np.int64)[enc.indices.to_numpy(zero_copy_only=False)]
    return codes, vocab


def _explode(chains: pa.Table, group_by_interpretation: bool = True) -> _Turns:
    # `interpretations` is optional: chains written before it existed group by text only
    missing = [
        f.name
        for f in CHAIN_SCHEMA
        if f.name not in chains.column_names and f.name not in ("interpretations", "principal")
    ]
    if missing:
        raise ValueError(f"chains table lacks columns {missing}; expected CHAIN_SCHEMA")
    has_interp = "interpretations" in chains.column_names
    n = chains.num_rows
    lens = pc.fill_null(pc.list_value_length(_col(chains, "nlu_texts")), 0).to_numpy().astype(np.int64)
    for name in _LIST_COLUMNS:
        other = pc.fill_null(pc.list_value_length(_col(chains, name)), 0).to_numpy().astype(np.int64)
        bad = np.flatnonzero(other != lens)
        if len(bad):
            cid = chains["chain_id"][int(bad[0])].as_py()
            raise ValueError(f"chain {cid!r}: {name} has {other[bad[0]]} entries, nlu_texts {lens[bad[0]]}")
    total = int(lens.sum())
    chain = np.repeat(np.arange(n, dtype=np.int64), lens)
    starts = np.cumsum(lens) - lens
    pos = np.arange(total, dtype=np.int64) - np.repeat(starts, lens)
    last = pos == np.repeat(lens, lens) - 1

    node, vocab = _encode_texts(_col(chains, "nlu_texts").flatten())
    # support is counted in principals (households/devices with credentials), not user strings
    who = _col(chains, "user_id")
    if "principal" in chains.column_names:
        who = pc.coalesce(_col(chains, "principal"), who)
    chain_user, users = _encode_strings(who)
    outcome = pc.fill_null(_col(chains, "outcome"), "").to_numpy(zero_copy_only=False)
    ts = _col(chains, "timestamps").flatten().cast(_TS).cast(pa.int64())  # any unit -> us
    ts_np = pc.fill_null(ts, np.iinfo(np.int64).min).to_numpy().astype(np.int64)
    dfl = _col(chains, "defective").flatten()
    d_np = np.where(
        pc.is_null(dfl).to_numpy(zero_copy_only=False),
        -1,
        pc.fill_null(dfl, False).to_numpy(zero_copy_only=False).astype(np.int8),
    ).astype(np.int8)
    last_ts = pc.fill_null(_col(chains, "last_ts").cast(_TS).cast(pa.int64()), np.iinfo(np.int64).min)
    group, groups = _success_groups(
        node, vocab, _interpretations(chains, lens) if has_interp and group_by_interpretation else None
    )
    return _Turns(
        n_chains=n,
        chain=chain,
        pos=pos,
        last=last,
        node=node,
        vocab=vocab,
        user=chain_user[chain],
        chain_user=chain_user,
        users=users,
        chain_success=np.asarray(outcome == "success", dtype=bool),
        rule_id=_col(chains, "rule_ids").flatten(),
        intent=_col(chains, "intents").flatten(),
        ts=ts_np,
        defective=d_np,
        session=_col(chains, "session_id"),
        chain_last_ts=last_ts.to_numpy().astype(np.int64),
        group=group,
        groups=groups,
    )


def _interpretations(chains: pa.Table, lens: _IntArr) -> pa.Array:
    """Per turn, the chain's interpretation (string, nullable); a null list means all unknown."""
    col = _col(chains, "interpretations")
    got = pc.fill_null(pc.list_value_length(col), -1).to_numpy().astype(np.int64)
    bad = np.flatnonzero((got != lens) & (got >= 0))
    if len(bad):
        cid = chains["chain_id"][int(bad[0])].as_py()
        raise ValueError(
            f"chain {cid!r}: interpretations has {got[bad[0]]} entries, nlu_texts {lens[bad[0]]}"
        )
    values = col.flatten().cast(pa.string())
    if not (got < 0).any():
        return values
    known = np.repeat(got >= 0, lens)
    idx = np.full(len(known), 0, np.int64)
    idx[known] = np.arange(int(known.sum()))
    return values.take(pa.array(idx, mask=~known)) if len(values) else pa.nulls(len(known), pa.string())


def _success_groups(
    node: _IntArr, vocab: npt.NDArray[np.object_], interps: pa.Array | None
) -> tuple[_IntArr, npt.NDArray[np.object_]]:
    """Per turn, the success group it would absorb into, and the sorted group names.

    Groups are every text (its own success) plus "@" + each interpretation; a turn's group is its
    interpretation's where known, else its text's. Without interpretations the groups are the
    vocabulary itself (group id = text id), the per-text layout."""
    if interps is None or len(interps) == 0 or interps.null_count == len(interps):
        return node, vocab
    enc = pc.dictionary_encode(interps)
    marked = np.array([INTERPRETATION_MARK + x for x in enc.dictionary.to_pylist()], dtype=object)
    groups = np.unique(np.concatenate([vocab, marked]))
    text_gid = np.searchsorted(groups, vocab).astype(np.int64)
    interp_gid = np.searchsorted(groups, marked).astype(np.int64)
    idx = enc.indices
    valid = np.asarray(pc.is_valid(idx).to_numpy(zero_copy_only=False), dtype=bool)
    codes = np.asarray(pc.fill_null(idx, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    group = np.where(valid, interp_gid[codes] if len(marked) else 0, text_gid[node])
    return group.astype(np.int64), groups


# --------------------------------------------------------------------------------------------------
# Step 1: count transitions


@dataclass
class _Edges:
    """Integer edges over a vocabulary of V texts and G success groups: dst < V transient,
    V + g SUCCESS(groups[g]), V + G FAILURE. `groups` None: the groups are the texts (G = V, so
    V + u is SUCCESS(u) and 2V FAILURE)."""

    src: _IntArr
    dst: _IntArr
    count: _IntArr
    distinct_users: _IntArr
    vocab: npt.NDArray[np.object_]
    groups: npt.NDArray[np.object_] | None = None

    @property
    def group_names(self) -> npt.NDArray[np.object_]:
        return self.vocab if self.groups is None else self.groups

    @property
    def failure(self) -> int:
        """The FAILURE destination id."""
        return len(self.vocab) + len(self.group_names)


def _destinations(t: _Turns) -> _IntArr:
    v = len(t.vocab)
    nxt = np.empty_like(t.node)
    nxt[:-1] = t.node[1:]
    if len(nxt):
        nxt[-1] = 0
    absorb = np.where(t.chain_success[t.chain], v + t.group, v + len(t.groups))
    return np.where(t.last, absorb, nxt)


def independent_principals(times: Sequence[npt.NDArray[np.int64]], window_us: int) -> int:
    """How many independent principals support something, given each one's supporting times.

    Principals that appear only together (every supporting chain of each within `window_us` of
    one of the other's, and vice versa) count once, transitively: a crowd of fresh credentials
    driven by one client in the same minutes is one voice, while real people, who run into the
    same problem on their own schedules, stay many. `window_us` <= 0 counts every principal."""
    n = len(times)
    if window_us <= 0 or n < 2:
        return n
    ts = [np.sort(np.asarray(t, np.int64)) for t in times]
    order = sorted(range(n), key=lambda i: int(ts[i][0]))
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def near(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> bool:
        """Every time in a lies within the window of some time in b."""
        idx = np.searchsorted(b, a)
        lo = np.abs(a - b[np.clip(idx - 1, 0, len(b) - 1)])
        hi = np.abs(b[np.clip(idx, 0, len(b) - 1)] - a)
        return bool(np.all(np.minimum(lo, hi) <= window_us))

    for k, i in enumerate(order):
        for j in order[k + 1 :]:
            if int(ts[j][0]) - int(ts[i][0]) > window_us:
                break  # i's first time is near none of j's (or any later principal's) times
            if near(ts[i], ts[j]) and near(ts[j], ts[i]):
                parent[find(i)] = find(j)
    return len({find(i) for i in range(n)})


def _group_distinct(key: _IntArr, sub: _IntArr) -> tuple[_IntArr, _IntArr, _IntArr]:
    """Unique keys, their row counts and their number of distinct `sub` values (sort-based)."""
    if len(key) == 0:
        z = np.zeros(0, np.int64)
        return z, z, z
    order = np.lexsort((sub, key))
    k, s = key[order], sub[order]
    new_key = np.empty(len(k), bool)
    new_key[0] = True
    new_key[1:] = k[1:] != k[:-1]
    new_pair = new_key.copy()
    new_pair[1:] |= s[1:] != s[:-1]
    starts = np.flatnonzero(new_key)
    counts = np.diff(np.append(starts, len(k)))
    distinct = np.add.reduceat(new_pair.astype(np.int64), starts)
    return k[starts], counts.astype(np.int64), distinct.astype(np.int64)


def _count(t: _Turns) -> _Edges:
    v = len(t.vocab)
    width = v + len(t.groups) + 1
    dst = _destinations(t)
    key = t.node * width + dst
    uk, cnt, users = _group_distinct(key, t.user)
    groups = None if t.groups is t.vocab else t.groups
    return _Edges(
        src=uk // width, dst=uk % width, count=cnt, distinct_users=users, vocab=t.vocab, groups=groups
    )


def _edges_to_arrow(e: _Edges) -> pa.Table:
    v = len(e.vocab)
    vocab = pa.array(e.vocab.tolist() if v else [], type=pa.string())
    src = vocab.take(pa.array(e.src))
    trans = e.dst < v
    succ = (e.dst >= v) & (e.dst < e.failure)
    names = np.empty(len(e.dst), dtype=object)
    names[trans] = e.vocab[e.dst[trans]]
    names[succ] = (
        np.char.add(SUCCESS_PREFIX, e.group_names[e.dst[succ] - v].astype(str)).astype(object)
        if succ.any()
        else []
    )
    names[~trans & ~succ] = FAILURE
    return pa.table(
        [src, pa.array(names.tolist(), type=pa.string()), pa.array(e.count), pa.array(e.distinct_users)],
        schema=EDGE_SCHEMA,
    )


def count_transitions(chains: pa.Table, *, group_by_interpretation: bool = True) -> pa.Table:
    """Edges of the rephrase graph (EDGE_SCHEMA): consecutive turns of a chain, plus the absorbing
    edge of each chain's last turn; `count` over all users, `distinct_users` per edge. A successful
    last turn absorbs into SUCCESS(@its interpretation) when grouping and known, else SUCCESS(text)."""
    return _edges_to_arrow(_count(_explode(chains, group_by_interpretation)))


def _components_of(src: _IntArr, dst: _IntArr, n: int) -> _IntArr:
    """Weakly connected components over transient edges (absorbing states never join two nodes)."""
    m = (dst < n) & (dst != src)
    g = sp.coo_matrix((np.ones(int(m.sum())), (src[m], dst[m])), shape=(n, n)).tocsr()
    _, labels = connected_components(g, directed=True, connection="weak")
    return labels.astype(np.int64)


def assign_components(edges: pa.Table) -> pa.Table:
    """`edges` plus an int64 `component` column (weak connectivity over transient edges): the key to
    group by before `solve_component` (e.g. Spark ``groupBy("component").applyInArrow``)."""
    src = edges["src"].to_numpy(zero_copy_only=False).astype(object)
    dst = edges["dst"].to_numpy(zero_copy_only=False).astype(object)
    trans = np.array([not (d == FAILURE or d.startswith(SUCCESS_PREFIX)) for d in dst], dtype=bool)
    names = np.unique(np.concatenate([src, dst[trans]])) if len(src) else np.zeros(0, dtype=object)
    s = np.searchsorted(names, src).astype(np.int64)
    d = np.full(len(dst), len(names), dtype=np.int64)
    d[trans] = np.searchsorted(names, dst[trans])
    labels = _components_of(s, d, len(names))
    return edges.append_column("component", pa.array(labels[s] if len(s) else [], type=pa.int64()))


# --------------------------------------------------------------------------------------------------
# Step 2: solve one component


@dataclass
class _Solution:
    target: _IntArr  # local id, -1 if none
    probability: _FloatArr  # B[s, g*]
    own: _FloatArr
    failure: _FloatArr
    group: _IntArr  # g*, -1 if none


class _Factor:
    """Sparse LU of A (SuperLU, minimum-degree ordering on A^T + A, which keeps the fill of rephrase
    graphs far below COLAMD's) with solves vectorised over a block of right-hand sides.

    Large systems solve through the triangular factors: SuperLU's own multi-column solve is several
    times slower than `spsolve_triangular` over the same L and U."""

    _DIRECT_MAX = 512

    def __init__(self, a: sp.csc_matrix) -> None:
        try:
            self.lu = splu(a, permc_spec="MMD_AT_PLUS_A")
        except RuntimeError as exc:  # exactly singular: some set of nodes never absorbs
            raise ValueError(f"I - Q is singular: a set of nodes never absorbs ({exc})") from exc
        self.n = a.shape[0]
        if self.n > self._DIRECT_MAX:
            self.l_csr = self.lu.L.tocsr()
            self.u_csr = self.lu.U.tocsr()
            self.lt_csr = self.lu.L.T.tocsr()
            self.ut_csr = self.lu.U.T.tocsr()

    def solve(self, b: _FloatArr) -> _FloatArr:
        """x with A x = b (b: n or n x k)."""
        if self.n <= self._DIRECT_MAX:
            return np.asarray(self.lu.solve(np.asfortranarray(b)))
        y = np.empty_like(b)
        y[self.lu.perm_r] = b
        w = spsolve_triangular(self.l_csr, y, lower=True, unit_diagonal=True)
        z = spsolve_triangular(self.u_csr, w, lower=False)
        return np.asarray(z[self.lu.perm_c])

    def solve_t(self, b: _FloatArr) -> _FloatArr:
        """x with A^T x = b."""
        if self.n <= self._DIRECT_MAX:
            return np.asarray(self.lu.solve(np.asfortranarray(b), trans="T"))
        v = np.empty_like(b)
        v[self.lu.perm_c] = b
        w = spsolve_triangular(self.ut_csr, v, lower=True)
        y = spsolve_triangular(self.lt_csr, w, lower=False, unit_diagonal=True)
        return np.asarray(y[self.lu.perm_r])


_TIE = 1e-12  # absorption values this close are a tie, broken by the smaller (alphabetical) id


def _argmax_first(a: _FloatArr, axis: int) -> _IntArr:
    """Index of the first entry within _TIE of the maximum along `axis` (deterministic ties)."""
    top = a.max(axis=axis, keepdims=True)
    return np.asarray(np.argmax(a >= top - _TIE, axis=axis), dtype=np.int64)


def _unit_block(m: int, rows: _IntArr) -> _FloatArr:
    e = np.zeros((m, len(rows)), order="F")
    e[rows, np.arange(len(rows))] = 1.0
    return e


def _own_success(m: int, q: sp.csr_matrix, r: _FloatArr, s_loc: _IntArr) -> _FloatArr:
    """B[s, SUCCESS(s)] = N[s, s] r_s for each s. Returning to s never leaves s's strongly connected
    component, so N[s, s] is the same diagonal entry of (I - Q_scc)^-1: one LU of I - Q with the
    inter-SCC edges dropped (block diagonal), and sources of different SCCs share right-hand sides."""
    own = np.zeros(len(s_loc))
    need = r[s_loc] > 0
    if not need.any():
        return own
    qo = q.tocoo()
    off = qo.row != qo.col
    g = sp.csr_matrix((np.ones(int(off.sum())), (qo.row[off], qo.col[off])), shape=(m, m))
    _, lab = connected_components(g, directed=True, connection="strong")
    size = np.bincount(lab)
    qself = q.diagonal()
    single = need & (size[lab[s_loc]] == 1)
    own[single] = r[s_loc[single]] / (1.0 - qself[s_loc[single]])
    multi = np.flatnonzero(need & (size[lab[s_loc]] > 1))
    if len(multi) == 0:
        return own
    inside = lab[qo.row] == lab[qo.col]
    blk = sp.csr_matrix((qo.data[inside], (qo.row[inside], qo.col[inside])), shape=(m, m))
    fac = _Factor((sp.identity(m, format="csc") - blk.tocsc()).tocsc())
    # rank of each source within its SCC: sources of the same rank go into one column
    sl = s_loc[multi]
    order = np.lexsort((sl, lab[sl]))
    grp = lab[sl][order]
    first = np.r_[0, np.flatnonzero(grp[1:] != grp[:-1]) + 1]
    rank = np.empty(len(sl), np.int64)
    rank[order] = np.arange(len(sl)) - np.repeat(first, np.diff(np.r_[first, len(sl)]))
    e = np.zeros((m, int(rank.max()) + 1), order="F")
    e[sl, rank] = 1.0
    x = fac.solve(e)
    own[multi] = x[sl, rank] * r[sl]
    return own


def _solve_local(
    n: int,
    src: _IntArr,
    dst: _IntArr,
    cnt: npt.NDArray[Any],
    sources: _IntArr,
    strategy: Strategy = "auto",
    min_probability: float = 0.0,
    *,
    n_groups: int | None = None,
    users: npt.NDArray[Any] | None = None,
) -> _Solution:
    """Absorption results for `sources` in a graph of n nodes: dst < n transient, n + g SUCCESS of
    group g < n_groups, n + n_groups FAILURE (n_groups None: n, group u being text u's own success,
    so 2n is FAILURE). Per source: g* and its target text as in the module docstring; `users`
    (distinct users per edge, optional) breaks ties between target texts.

    Exact: sparse LU of I - Q on the nodes reachable from the sources, then min(#sources, #groups)
    solves in bounded dense blocks (plus, solving by columns, one column of N per target text whose
    reachability from a source is not evident from the graph). Groups g whose bound
    max_u R[u, g] / (r_u + f_u) >= B[s, g] is below `min_probability` are skipped (they can never be
    chosen at that threshold)."""
    k = len(sources)
    n_grp = n if n_groups is None else int(n_groups)
    res = _Solution(
        target=np.full(k, -1, np.int64),
        probability=np.zeros(k),
        own=np.zeros(k),
        failure=np.zeros(k),
        group=np.full(k, -1, np.int64),
    )
    if k == 0:
        return res
    cnt = np.asarray(cnt, dtype=np.float64)
    usr = np.zeros(len(cnt)) if users is None else np.asarray(users, dtype=np.float64)
    out = np.bincount(src, weights=cnt, minlength=n)
    if np.any(out[sources] <= 0):
        raise ValueError("every source needs outgoing edges (a turn either moves on or absorbs)")
    trans = dst < n
    succ = (dst >= n) & (dst < n + n_grp)
    fail = dst >= n + n_grp
    # Restrict to nodes reachable from the sources: nothing else affects their absorption.
    tm = trans & (src != dst)
    g = sp.csr_matrix(
        (np.ones(int(tm.sum()) + k), (np.append(src[tm], np.full(k, n)), np.append(dst[tm], sources))),
        shape=(n + 1, n + 1),
    )
    reach = np.sort(breadth_first_order(g, n, directed=True, return_predecessors=False))
    reach = reach[reach < n]
    if np.any(out[reach] <= 0):
        raise ValueError("a reachable node has no outgoing edges; edges must come from whole chains")
    loc = np.full(n, -1, np.int64)
    loc[reach] = np.arange(len(reach))
    m = len(reach)
    keep = loc[src] >= 0
    s_l = loc[src[keep]]
    w = cnt[keep] / out[src[keep]]
    t_k, sc_k, f_k = trans[keep], succ[keep], fail[keep]
    d_l = np.where(t_k, loc[np.where(t_k, dst[keep], 0)], -1)
    r = np.bincount(s_l[sc_k], weights=w[sc_k], minlength=m).astype(np.float64)
    f = np.bincount(s_l[f_k], weights=w[f_k], minlength=m).astype(np.float64)
    q = sp.csr_matrix((w[t_k], (s_l[t_k], d_l[t_k])), shape=(m, m))
    fac = _Factor((sp.identity(m, format="csc") - q.tocsc()).tocsc())
    # u can be another node's target only if some other node reaches it
    other_in = np.bincount(d_l[t_k & (s_l != d_l)], minlength=m)
    grp = _Groups(
        m,
        s_l[sc_k],
        dst[keep][sc_k] - n,
        w[sc_k],
        cnt[keep][sc_k],
        usr[keep][sc_k],
        r,
        f,
        other_in,
        min_probability,
    )
    nk = len(grp.ids)
    s_loc = loc[sources]
    if strategy == "auto":
        strategy = "rows" if k <= nk + 1 else "columns"

    if strategy == "rows":
        b = max(1, min(k, _BLOCK_ELEMS // max(m, nk, 1)))
        for lo in range(0, k, b):
            idx = s_loc[lo : lo + b]
            cols = np.arange(len(idx))
            x = fac.solve_t(_unit_block(m, idx))  # column j = row idx[j] of N
            res.failure[lo : lo + b] = f @ x
            nss = x[idx, cols].copy()
            res.own[lo : lo + b] = nss * r[idx]
            if nk == 0:
                continue
            x[idx, cols] = 0.0  # now N[s_j, u] for u != s_j only
            other = grp.rt_dot(x)  # B[s_j, g] without s_j's own successes
            total = other + grp.rows(idx, 0, nk).T * nss[None, :]
            bv = np.where(other > 0, total, -np.inf)
            best = _argmax_first(bv, axis=0)
            val = bv[best, cols]
            has = val > -np.inf
            res.probability[lo : lo + b] = np.where(has, val, 0.0)
            res.group[lo : lo + b] = np.where(has, best, -1)
            jj = np.flatnonzero(has)
            if len(jj):
                res.target[lo + jj] = grp.pick(best[jj], idx[jj], x, jj)
    else:
        res.failure[:] = fac.solve(f)[s_loc]
        res.own[:] = _own_success(m, q, r, s_loc)
        with np.errstate(divide="ignore", invalid="ignore"):
            nss = np.where(r[s_loc] > 0, res.own / r[s_loc], 0.0)  # N[s, s] where s can succeed
        best_val = np.full(k, -np.inf)
        best_g = np.full(k, -1, np.int64)
        b = max(1, min(nk, _BLOCK_ELEMS // max(m, k, 1))) if nk else 1
        src_useful = (other_in[s_loc] > 0)[:, None]
        for lo in range(0, nk, b):
            hi = min(lo + b, nk)
            # B[., g] = N R[:, g]; a group with one feeder u solves N e_u, then scales by R[u, g]
            x = fac.solve(grp.rhs(lo, hi))
            bs = x[s_loc, :] * grp.scale[None, lo:hi]
            selfp = grp.rows(s_loc, lo, hi) * nss[:, None]
            feeds = selfp > 0
            # another useful feeder than s is needed (exact); then s's own share is subtracted
            others = grp.n_useful[lo:hi][None, :] - (feeds & src_useful)
            reach_other = np.where(feeds, bs - selfp > _TIE, bs > 0) & (others > 0)
            bv = np.where(reach_other, bs, -np.inf)
            jj = _argmax_first(bv, axis=1)
            val = bv[np.arange(k), jj]
            better = val > best_val + _TIE  # among (near-)equal values the smaller id wins
            best_val = np.where(better, val, best_val)
            best_g = np.where(better, lo + jj, best_g)
        has = best_g >= 0
        res.probability[:] = np.where(has, best_val, 0.0)
        res.group[:] = best_g
        if has.any():
            res.target[:] = _pick_by_columns(grp, fac, q, m, s_loc, best_g, other_in)
    res.target = np.where(res.target >= 0, reach[np.maximum(res.target, 0)], -1)
    if nk:
        res.group = np.where(res.group >= 0, grp.ids[np.maximum(res.group, 0)], -1)
    return res


class _Groups:
    """The success groups of one solve that can matter, over m local nodes: `ids` (kept group ids,
    ascending) and R restricted to them as entries sorted by (group, node) (`g` kept index, `u`
    node, `w` weight), per group the number of useful feeders (nodes with a success in it that some
    other node moves to: only those can be reached from another source) and the ranked list of
    eligible target texts (`ptr`, `node`): useful feeders holding at least half of their successful
    endings in the group, by count desc, distinct users desc, node id asc.

    Small systems hold R dense (many tiny components: no sparse-matrix overhead), large ones sparse."""

    _DENSE_MAX = 1 << 14

    def __init__(
        self,
        m: int,
        node: _IntArr,
        group: _IntArr,
        w: _FloatArr,
        count: _FloatArr,
        users: _FloatArr,
        r: _FloatArr,
        f: _FloatArr,
        other_in: _IntArr,
        min_probability: float,
    ) -> None:
        self.m = m
        key = group * m + node
        order = np.argsort(key, kind="stable")
        key, w, count, users = key[order], w[order], count[order], users[order]
        if len(key) > 1 and np.any(key[1:] == key[:-1]):  # merge repeated (node, group) edges
            key, inv = np.unique(key, return_inverse=True)
            inv = inv.reshape(-1)
            w = np.bincount(inv, weights=w).astype(np.float64)
            count = np.bincount(inv, weights=count).astype(np.float64)
            users = np.bincount(inv, weights=users).astype(np.float64)
        group, node = key // m, key % m
        node_total = np.bincount(node, weights=count, minlength=m)  # every successful ending of u
        useful = other_in[node] > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = np.where(useful, w / (r + f)[node], -1.0)  # P(absorb in g) <= max over feeders
        if len(group):
            new_group = np.empty(len(group), dtype=bool)
            new_group[0] = True
            np.not_equal(group[1:], group[:-1], out=new_group[1:])
            starts = np.flatnonzero(new_group)
            kept = np.maximum.reduceat(bound, starts) >= min_probability - 1e-12
            of_entry = np.cumsum(new_group) - 1
            sel = kept[of_entry]
            self.ids: _IntArr = group[starts][kept].astype(np.int64)
            kg = (np.cumsum(kept) - 1)[of_entry][sel]
        else:
            sel = np.zeros(0, dtype=bool)
            self.ids = np.zeros(0, np.int64)
            kg = np.zeros(0, np.int64)
        nk = len(self.ids)
        self.g: _IntArr = kg.astype(np.int64)
        self.u: _IntArr = node[sel]
        self.w: _FloatArr = w[sel]
        count, users, useful = count[sel], users[sel], useful[sel]
        self.key: _IntArr = self.g * m + self.u  # sorted
        self.start: _IntArr = np.searchsorted(self.g, np.arange(nk + 1)).astype(np.int64)
        self.n_useful: _IntArr = np.bincount(self.g[useful], minlength=nk).astype(np.int64)
        # a group with one feeder u is solved as N e_u, then scaled by R[u, g] (as per text)
        feeders = np.diff(self.start)
        self.scale: _FloatArr = np.ones(nk)
        one = np.flatnonzero(feeders == 1)
        one = one[self.w[self.start[one]] > 0]
        self.scale[one] = self.w[self.start[one]]
        self.dense = m * nk <= self._DENSE_MAX
        if self.dense:
            self.rd = np.zeros((m, nk))
            self.rd[self.u, self.g] = self.w
        else:
            self.rt_csr = sp.csr_matrix((self.w, (self.g, self.u)), shape=(nk, m))
        elig = useful & (2 * count >= node_total[self.u])
        order = np.lexsort((self.u[elig], -users[elig], -count[elig], self.g[elig]))
        self.node: _IntArr = self.u[elig][order].astype(np.int64)
        self.ptr: _IntArr = np.searchsorted(self.g[elig][order], np.arange(nk + 1)).astype(np.int64)

    def rt_dot(self, x: _FloatArr) -> _FloatArr:
        """R^T x (groups x columns of x)."""
        return np.asarray(self.rd.T @ x if self.dense else self.rt_csr @ x)

    def rows(self, idx: _IntArr, lo: int, hi: int) -> _FloatArr:
        """Dense R[idx, lo:hi] (idx distinct)."""
        if self.dense:
            return self.rd[idx, lo:hi]
        out = np.zeros((len(idx), hi - lo))
        pos = np.full(self.m, -1, np.int64)
        pos[idx] = np.arange(len(idx))
        a, b = self.start[lo], self.start[hi]
        p = pos[self.u[a:b]]
        ok = p >= 0
        out[p[ok], self.g[a:b][ok] - lo] = self.w[a:b][ok]
        return out

    def rhs(self, lo: int, hi: int) -> _FloatArr:
        """Right-hand sides R[:, lo:hi] / scale, Fortran order."""
        out = np.zeros((self.m, hi - lo), order="F")
        a, b = self.start[lo], self.start[hi]
        out[self.u[a:b], self.g[a:b] - lo] = self.w[a:b] / self.scale[self.g[a:b]]
        return out

    def feeds(self, s: _IntArr, g: _IntArr) -> npt.NDArray[np.bool_]:
        """Whether node s[i] has a success in kept group g[i]."""
        if len(self.key) == 0:
            return np.zeros(len(s), dtype=bool)
        want = g * self.m + s
        at = np.minimum(np.searchsorted(self.key, want), len(self.key) - 1)
        return np.asarray(self.key[at] == want)

    def pick(self, gsel: _IntArr, ssel: _IntArr, n_rows: _FloatArr, col: _IntArr) -> _IntArr:
        """Per (kept group gsel[i], source ssel[i]): the first eligible text u != source that the
        source reaches (n_rows[u, col[i]] > 0, n_rows holding rows of N as columns), or -1."""
        lens = self.ptr[gsel + 1] - self.ptr[gsel]
        total = int(lens.sum())
        owner = np.repeat(np.arange(len(gsel)), lens)
        offs = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
        cand = self.node[np.repeat(self.ptr[gsel], lens) + offs]
        ok = cand != ssel[owner]
        if ok.any():
            ok[ok] = n_rows[cand[ok], col[owner[ok]]] > 0
        out = np.full(len(gsel), -1, np.int64)
        hit = np.flatnonzero(ok)
        first_owner, first = np.unique(owner[hit], return_index=True)
        out[first_owner] = cand[hit[first]]
        return out


def _has_edge(q: sp.csr_matrix, s: _IntArr, u: _IntArr) -> npt.NDArray[np.bool_]:
    """Whether Q[s[i], u[i]] > 0 (a direct rephrase s -> u), by binary search in the CSR rows."""
    if len(s) == 0 or q.nnz == 0:
        return np.zeros(len(s), dtype=bool)
    q.sort_indices()
    m = q.shape[1]
    rows = np.repeat(np.arange(q.shape[0], dtype=np.int64), np.diff(q.indptr))
    keys = rows * m + q.indices.astype(np.int64)  # sorted: row-major with sorted indices
    want = s * m + u
    at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    return np.asarray((keys[at] == want) & (q.data[at] > 0))


def _pick_by_columns(
    grp: _Groups,
    fac: _Factor,
    q: sp.csr_matrix,
    m: int,
    s_loc: _IntArr,
    best_g: _IntArr,
    other_in: _IntArr,
) -> _IntArr:
    """Targets when N was solved by columns: walk each source's ranked candidates in its g* in
    windows that double each round; a candidate is reachable for sure if there is an edge s -> u or
    it is the only useful feeder of g* besides s (s reaches g* through another text), else N[s, u]
    > 0 is checked with one solve per distinct candidate. Usually one round, no solve."""
    k = len(s_loc)
    target = np.full(k, -1, np.int64)
    pos = np.zeros(k, np.int64)
    pending = np.flatnonzero(best_g >= 0)
    # g* with one useful feeder (a text's own success, mostly): it is the one s reaches, and it
    # is the target if eligible
    g_p = best_g[pending]
    lone = grp.n_useful[g_p] == 1
    if lone.any():
        lp, lg = pending[lone], g_p[lone]
        has = grp.ptr[lg + 1] > grp.ptr[lg]
        target[lp[has]] = grp.node[grp.ptr[lg[has]]]
        pending, g_p = pending[~lone], g_p[~lone]
        if len(pending) == 0:
            return target
    others = np.zeros(k, np.int64)
    others[pending] = grp.n_useful[g_p] - (grp.feeds(s_loc[pending], g_p) & (other_in[s_loc[pending]] > 0))
    window = 1
    while len(pending):
        gp = best_g[pending]
        lo = grp.ptr[gp] + pos[pending]
        end = grp.ptr[gp + 1]
        live = lo < end
        pending, lo, end = pending[live], lo[live], end[live]
        if len(pending) == 0:
            break
        lens = np.minimum(lo + window, end) - lo
        owner = np.repeat(np.arange(len(pending)), lens)
        at = np.repeat(lo, lens) + np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        u = grp.node[at]
        p = pending[owner]
        s = s_loc[p]
        ok = u != s
        if ok.any():
            sure = (others[p[ok]] == 1) | _has_edge(q, s[ok], u[ok])
            need = np.flatnonzero(ok)[~sure]
            if len(need):
                uu, inv = np.unique(u[need], return_inverse=True)
                inv = inv.reshape(-1)
                reached = np.zeros(len(need), dtype=bool)
                b = max(1, _BLOCK_ELEMS // max(m, 1))
                for blo in range(0, len(uu), b):
                    x = fac.solve(_unit_block(m, uu[blo : blo + b]))  # column j = column uu[blo + j] of N
                    sel = (inv >= blo) & (inv < blo + b)
                    reached[sel] = x[s[need][sel], inv[sel] - blo] > 0
                ok[need] = reached
        hit = np.flatnonzero(ok)
        found, first = np.unique(owner[hit], return_index=True)
        target[pending[found]] = u[hit[first]]
        pos[pending] += lens
        done = np.zeros(len(pending), dtype=bool)
        done[found] = True
        pending = pending[~done]
        window *= 2
    return target


def solve_component(
    edges: pa.Table,
    *,
    sources: Sequence[str] | None = None,
    strategy: Strategy = "auto",
    min_probability: float = 0.0,
) -> pa.Table:
    """Absorption results (SOLUTION_SCHEMA) for the edges (src, dst, count; optional
    distinct_users, which breaks ties between target texts) of ONE connected component; `sources`
    defaults to every src. Pure, so it can run per group on a cluster.

    Every distinct SUCCESS_PREFIX state is one success group, whichever nodes feed it (a text's own
    SUCCESS(text), or an interpretation's SUCCESS(@interpretation)); g* and the target follow the
    module docstring. With `min_probability` > 0 only groups that could reach it are considered
    (exactly the miner's decisions at that threshold, faster); 0 gives the plain argmax."""
    src_s = edges["src"].to_numpy(zero_copy_only=False).astype(object)
    dst_s = edges["dst"].to_numpy(zero_copy_only=False).astype(object)
    cnt = edges["count"].to_numpy(zero_copy_only=False).astype(np.float64)
    users = (
        edges["distinct_users"].to_numpy(zero_copy_only=False).astype(np.float64)
        if "distinct_users" in edges.column_names
        else None
    )
    is_fail = dst_s == FAILURE
    is_succ = np.array([d.startswith(SUCCESS_PREFIX) for d in dst_s], dtype=bool)
    trans = ~is_fail & ~is_succ
    succ_of = np.array([d[len(SUCCESS_PREFIX) :] for d in dst_s[is_succ]], dtype=object)
    names = np.unique(np.concatenate([src_s, dst_s[trans]])) if len(src_s) else src_s
    groups = np.unique(succ_of) if len(succ_of) else succ_of
    n, n_groups = len(names), len(groups)
    src = np.searchsorted(names, src_s).astype(np.int64)
    dst = np.full(len(dst_s), n + n_groups, np.int64)
    dst[trans] = np.searchsorted(names, dst_s[trans])
    dst[is_succ] = n + np.searchsorted(groups, succ_of)
    want = np.unique(src) if sources is None else np.searchsorted(names, np.asarray(sources, dtype=object))
    if sources is not None and (
        np.any(want >= n) or np.any(names[np.minimum(want, n - 1)] != np.asarray(sources))
    ):
        raise ValueError("every requested source must be a node of the component")
    want = np.asarray(want, np.int64)
    sol = _solve_local(n, src, dst, cnt, want, strategy, min_probability, n_groups=n_groups, users=users)
    out = np.bincount(src, weights=cnt, minlength=n)
    tgt = [names[i] if i >= 0 else None for i in sol.target]
    state = [SUCCESS_PREFIX + groups[i] if i >= 0 else None for i in sol.group]
    return pa.table(
        [
            pa.array(names[want].tolist(), type=pa.string()),
            pa.array(out[want].astype(np.int64)),
            pa.array(tgt, type=pa.string()),
            pa.array(sol.probability),
            pa.array(sol.own),
            pa.array(sol.failure),
            pa.array(state, type=pa.string()),
        ],
        schema=SOLUTION_SCHEMA,
    )


# --------------------------------------------------------------------------------------------------
# Self-aware test


def prob_better(
    a1: npt.ArrayLike, b1: npt.ArrayLike, a2: npt.ArrayLike, b2: npt.ArrayLike, points: int = 256
) -> _FloatArr:
    """P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2), elementwise. Deterministic quadrature in X's
    quantile space (E[F_Y(X)] at `points` mid-quantiles), accurate even for very peaked posteriors."""
    a1_, b1_, a2_, b2_ = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (a1, b1, a2, b2))
    u = (np.arange(points) + 0.5) / points
    x = beta_dist.ppf(u[:, None], a1_[None, :], b1_[None, :])
    return np.asarray(beta_dist.cdf(x, a2_[None, :], b2_[None, :]).mean(axis=0), dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# The estimator


class MarkovRewriteMiner:
    """Mines source -> target rewrites from rephrase chains (absorbing Markov chain) and, given the
    previously published table, keeps a live rule only while its fired turns beat its source.

    Publishing rule for a source s seen >= `min_source_count` times, with g* its best success group
    and u* the target text in it (module docstring; `group_by_interpretation=False`: one group per
    text, u* = argmax_{u != s} B[s, SUCCESS(u)]): B[s, g*] >= min_probability, B[s, g*] >=
    source_success + margin, at least `min_users` distinct users support it (grouped: users with a
    chain where s is followed by a different text ending successfully in g*; per text: a chain where
    s is followed, later, by u*), and u*'s majority NLU intent is not protected (unless
    `allow_protected`).

    Self-aware (`self_aware`, with `previous` given): each previously published rule is re-judged on
    the turns where it fired (success = turn not defective) against its source's un-rewritten turns,
    Beta(successes + prior[0], failures + prior[1]) each; it stays while P(theta_rule > theta_source)
    >= `keep_probability` (with no new evidence in the window, the counts stored in `previous` are
    reused), and is dropped otherwise even if the graph still favours it; a dropped rule is not
    re-published from the graph in the same fit. A kept rule wins over a new candidate for its source.
    Without `self_aware`, `previous` is ignored and the table is mined from the graph alone.

    Other knobs: `max_examples` example sessions per rule; `blocked_rule_ids` never published (e.g.
    `RewriteStore.disabled_rules()`); `min_edge_users` > 1 treats rephrases seen from fewer users as
    leaving the graph (noise robustness, and far smaller components; 1 = the exact graph);
    `strategy` forces row or column solves (default: the cheaper per component);
    `together_window_s`: principals whose support appears only together, within this many seconds
    of each other, count once towards `min_users` (`independent_principals`; 0 turns it off).

    Fitted: `rewrites_` (REWRITE_SCHEMA), `solutions_` (SOLUTION_SCHEMA, one row per candidate
    source), `dropped_` (previous rules dropped, with the reason), `protected_` (the protected intents
    guarded: `protected_intents`, or by default `contracts.domain`'s policy over the logged intents),
    `input_`, `stats_`.
    """

    def __init__(
        self,
        min_users: int = 3,
        min_probability: float = 0.5,
        margin: float = 0.2,
        min_source_count: int = 3,
        protected_intents: Collection[str] | None = None,
        allow_protected: bool = False,
        max_examples: int = 5,
        self_aware: bool = True,
        prior: tuple[float, float] = (1.0, 1.0),
        keep_probability: float = 0.8,
        blocked_rule_ids: Collection[str] = (),
        min_edge_users: int = 1,
        strategy: Strategy = "auto",
        group_by_interpretation: bool = True,
        together_window_s: float = 600.0,
    ) -> None:
        self.min_users = min_users
        self.min_probability = min_probability
        self.margin = margin
        self.min_source_count = min_source_count
        self.protected_intents = protected_intents
        self.allow_protected = allow_protected
        self.max_examples = max_examples
        self.self_aware = self_aware
        self.prior = prior
        self.keep_probability = keep_probability
        self.blocked_rule_ids = blocked_rule_ids
        self.min_edge_users = min_edge_users
        self.strategy = strategy
        self.group_by_interpretation = group_by_interpretation
        self.together_window_s = together_window_s

    # -- config ------------------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, JSON-ready (what a manifest records)."""
        return {
            "min_users": self.min_users,
            "min_probability": self.min_probability,
            "margin": self.margin,
            "min_source_count": self.min_source_count,
            "protected_intents": None if self.protected_intents is None else sorted(self.protected_intents),
            "allow_protected": self.allow_protected,
            "max_examples": self.max_examples,
            "self_aware": self.self_aware,
            "prior": list(self.prior),
            "keep_probability": self.keep_probability,
            "blocked_rule_ids": sorted(self.blocked_rule_ids),
            "min_edge_users": self.min_edge_users,
            "strategy": self.strategy,
            "group_by_interpretation": self.group_by_interpretation,
            "together_window_s": self.together_window_s,
        }

    def _validate(self) -> None:
        if self.min_users < 1 or self.min_source_count < 1 or self.min_edge_users < 1:
            raise ValueError("min_users, min_source_count and min_edge_users must be >= 1")
        if not 0.0 <= self.min_probability <= 1.0 or not 0.0 <= self.keep_probability <= 1.0:
            raise ValueError("min_probability and keep_probability must lie in [0, 1]")
        if self.margin < 0:
            raise ValueError("margin must be >= 0")
        if len(self.prior) != 2 or min(self.prior) <= 0:
            raise ValueError("prior must be two positive Beta pseudo-counts (a, b)")
        if self.strategy not in ("auto", "rows", "columns"):
            raise ValueError(f"unknown strategy {self.strategy!r}")

    # -- fit ---------------------------------------------------------------------------------------
    def fit(
        self, chains: pa.Table, previous: RewriteTable | None = None, *, solver: ComponentSolver | None = None
    ) -> MarkovRewriteMiner:
        """Mine rules from `chains`; `previous` is the live table (self-aware test). `solver` solves the
        components elsewhere (e.g. `SparkEngine.solve_components`); None solves them in-process. Both
        give the same rules: only where the solves run changes."""
        self._validate()
        t = _explode(chains, self.group_by_interpretation)
        # the deployment's protected intents; by default, the policy over the intents the logs name
        if self.protected_intents is not None:
            self.protected_ = frozenset(self.protected_intents)
        else:
            named = [i for i in pc.unique(t.intent).to_pylist() if i]
            self.protected_ = protected_by_default(named)
        e = _count(t)
        if self.min_edge_users > 1:
            # A rephrase seen from fewer users is noise, not collaborative evidence: the turn is
            # treated as leaving the graph (FAILURE). Keeps giant components from forming.
            v0 = len(t.vocab)
            weak = (e.dst < v0) & (e.dst != e.src) & (e.distinct_users < self.min_edge_users)
            e.dst = np.where(weak, e.failure, e.dst)
        v = len(t.vocab)
        cands = self._candidate_sources(t, e)
        sol = self._solve(e, cands) if solver is None else self._solve_with(e, cands, solver)
        fresh = self._select(t, sol)
        rows, dropped = self._merge(t, fresh, previous)
        table = pa.Table.from_pylist(rows, schema=REWRITE_SCHEMA) if rows else REWRITE_SCHEMA.empty_table()
        self.rewrites_ = table.sort_by([("source", "ascending")]) if rows else table
        self.dropped_ = pa.Table.from_pylist(
            dropped,
            schema=pa.schema(
                [
                    ("rule_id", pa.string()),
                    ("source", pa.string()),
                    ("target", pa.string()),
                    ("reason", pa.string()),
                ]
            ),
        )
        self.solutions_ = sol["table"]
        ts_ok = t.ts[t.ts != np.iinfo(np.int64).min]
        self.input_ = {
            "chains": t.n_chains,
            "turns": len(t.node),
            "users": len(t.users),
            "texts": v,
            "success_groups": len(t.groups),
            "first_ts": _iso(int(ts_ok.min())) if len(ts_ok) else None,
            "last_ts": _iso(int(ts_ok.max())) if len(ts_ok) else None,
        }
        self.stats_ = {
            "edges": len(e.src),
            "candidate_sources": len(cands),
            "components_solved": sol["components"],
            "largest_component": sol["largest"],
            "rules": self.rewrites_.num_rows,
            "kept_previous": sum(1 for r in rows if r.get("_kept")) if rows else 0,
            "dropped_previous": len(dropped),
        }
        return self

    def to_table(self) -> RewriteTable:
        """The fitted rules as an unpublished RewriteTable whose meta says what made it."""
        if not hasattr(self, "rewrites_"):
            raise RuntimeError("MarkovRewriteMiner is not fitted; call fit(chains) first")
        meta = {
            "miner": {"name": "markov.v1", **self.get_params()},
            "input": self.input_,
            "counts": self.stats_,
        }
        return RewriteTable(self.rewrites_, version=None, meta=meta)

    # -- steps -------------------------------------------------------------------------------------
    def _candidate_sources(self, t: _Turns, e: _Edges) -> _IntArr:
        """Sources that can possibly publish, by exact necessary conditions (no solve needed)."""
        v = len(t.vocab)
        out = np.bincount(e.src, weights=e.count, minlength=v)
        is_succ = (e.dst >= v) & (e.dst < e.failure)
        r = np.bincount(e.src[is_succ], weights=e.count[is_succ], minlength=v)
        is_fail = e.dst == e.failure
        f = np.bincount(e.src[is_fail], weights=e.count[is_fail], minlength=v)
        qs = np.bincount(e.src[e.dst == e.src], weights=e.count[e.dst == e.src], minlength=v)
        # s's own successes in a group another text feeds too (only such a group can be g*; a
        # text's own group has s as its only feeder, so per text this is 0)
        sg = e.dst[is_succ] - v
        shared = np.bincount(sg, minlength=len(e.group_names))[sg] > 1
        rg = np.zeros(v)
        np.maximum.at(rg, e.src[is_succ][shared], e.count[is_succ][shared].astype(np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            stay = np.where(out > 0, (out - qs), 1.0)  # mass not returning to s immediately
            # >= B[s, g] for any group g that can be g* (moving away, or s's own success in g)
            ub_other = np.where(out > 0, (out - r - f - qs + rg) / stay, 0.0)
            lb_self = np.where(out > 0, r / stay, 0.0)  # <= source_success = N[s, s] r_s
        # distinct users who moved from s to another text (necessary for pair support >= min_users)
        dst = _destinations(t)
        moved = (dst < v) & (dst != t.node)
        uk, _, du = _group_distinct(t.node[moved], t.user[moved])
        users_away = np.zeros(v, np.int64)
        users_away[uk] = du
        tol = 1e-12
        ok = (
            (out >= self.min_source_count)
            & (users_away >= self.min_users)
            & (ub_other >= self.min_probability - tol)
            & (ub_other >= lb_self + self.margin - tol)
            & (t.vocab != "")
        )
        return np.flatnonzero(ok).astype(np.int64)

    def _solve(self, e: _Edges, cands: _IntArr) -> dict[str, Any]:
        v = len(e.vocab)
        k = len(cands)
        target = np.full(k, -1, np.int64)
        group = np.full(k, -1, np.int64)
        prob, own, fail = np.zeros(k), np.zeros(k), np.zeros(k)
        n_comp, largest = 0, 0
        if k:
            labels = _components_of(e.src, e.dst, v)
            order = np.argsort(labels[e.src], kind="stable")
            e_lab = labels[e.src][order]
            node_order = np.argsort(labels, kind="stable")
            n_lab = labels[node_order]
            c_lab = labels[cands]
            c_order = np.argsort(c_lab, kind="stable")
            comps = np.unique(c_lab)
            e_lo, e_hi = np.searchsorted(e_lab, comps), np.searchsorted(e_lab, comps, "right")
            n_lo, n_hi = np.searchsorted(n_lab, comps), np.searchsorted(n_lab, comps, "right")
            c_sorted = c_lab[c_order]
            s_lo, s_hi = np.searchsorted(c_sorted, comps), np.searchsorted(c_sorted, comps, "right")
            loc = np.full(v, -1, np.int64)
            for ci in range(len(comps)):
                nodes = node_order[n_lo[ci] : n_hi[ci]]  # ascending ids (stable sort of sorted ids)
                nodes = np.sort(nodes)
                n = len(nodes)
                loc[nodes] = np.arange(n)
                es = order[e_lo[ci] : e_hi[ci]]
                src = loc[e.src[es]]
                d = e.dst[es]
                is_s = (d >= v) & (d < e.failure)
                comp_groups = np.unique(d[is_s] - v)  # the component's success groups, ascending
                ng = len(comp_groups)
                dl = np.where(
                    d < v,
                    loc[np.minimum(d, v - 1)],
                    np.where(is_s, n + np.searchsorted(comp_groups, d - v), n + ng),
                )
                which = c_order[s_lo[ci] : s_hi[ci]]
                s = _solve_local(
                    n,
                    src,
                    dl,
                    e.count[es],
                    loc[cands[which]],
                    self.strategy,
                    self.min_probability,
                    n_groups=ng,
                    users=e.distinct_users[es],
                )
                target[which] = np.where(s.target >= 0, nodes[np.maximum(s.target, 0)], -1)
                if ng:
                    group[which] = np.where(s.group >= 0, comp_groups[np.maximum(s.group, 0)], -1)
                prob[which], own[which], fail[which] = s.probability, s.own, s.failure
                loc[nodes] = -1
                n_comp += 1
                largest = max(largest, n)
        return _solution_result(e, cands, target, group, prob, own, fail, n_comp=n_comp, largest=largest)

    def _solve_with(self, e: _Edges, cands: _IntArr, solver: ComponentSolver) -> dict[str, Any]:
        """`_solve` through an external `solver`: ship the edges of the components holding a
        candidate (labelled), map its SOLUTION_SCHEMA rows back to vocabulary ids."""
        v = len(e.vocab)
        k = len(cands)
        target = np.full(k, -1, np.int64)
        group = np.full(k, -1, np.int64)
        prob, own, fail = np.zeros(k), np.zeros(k), np.zeros(k)
        n_comp, largest = 0, 0
        if k:
            labels = _components_of(e.src, e.dst, v)
            comps = np.unique(labels[cands])
            keep = np.isin(labels[e.src], comps)
            sub = _Edges(e.src[keep], e.dst[keep], e.count[keep], e.distinct_users[keep], e.vocab, e.groups)
            edges = _edges_to_arrow(sub).append_column("component", pa.array(labels[sub.src], pa.int64()))
            names = e.vocab[cands]  # ascending, as cands and vocab are
            res = solver(edges, names.tolist(), strategy=self.strategy, min_probability=self.min_probability)
            got = np.asarray(res["source"].to_pylist(), dtype=object)
            pos = np.searchsorted(names, got) if len(got) else np.zeros(0, np.int64)
            if len(got) != k or np.any(pos >= k) or np.any(names[np.minimum(pos, k - 1)] != got):
                raise ValueError(f"solver returned {len(got)} rows for {k} sources, or unknown sources")
            if len(np.unique(pos)) != k:
                raise ValueError("solver returned a source twice")
            tgt = np.asarray(res["target"].to_pylist(), dtype=object)
            has = np.array([x is not None for x in tgt], dtype=bool)
            tid = np.full(k, -1, np.int64)
            if has.any():
                tid[has] = np.searchsorted(e.vocab, tgt[has])
                if np.any(tid[has] >= v) or np.any(e.vocab[np.minimum(tid[has], v - 1)] != tgt[has]):
                    raise ValueError("solver returned a target outside the vocabulary")
            target[pos] = tid
            group[pos] = _group_ids(e, res)
            prob[pos] = res["probability"].to_numpy(zero_copy_only=False)
            own[pos] = res["source_success"].to_numpy(zero_copy_only=False)
            fail[pos] = res["failure"].to_numpy(zero_copy_only=False)
            n_comp, largest = len(comps), int(np.bincount(labels)[comps].max())
        return _solution_result(e, cands, target, group, prob, own, fail, n_comp=n_comp, largest=largest)

    def _majority_intents(self, t: _Turns, nodes: _IntArr) -> dict[int, str | None]:
        """Most frequent non-null NLU intent of each node (ties: alphabetical)."""
        if len(nodes) == 0:
            return {}
        sel = np.isin(t.node, nodes) & pc.is_valid(t.intent).to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(sel)
        res: dict[int, str | None] = {int(n): None for n in nodes}
        if len(idx) == 0:
            return res
        codes, names = _encode_strings(t.intent.take(pa.array(idx)))
        key = t.node[idx] * len(names) + codes
        uk, cnt = np.unique(key, return_counts=True)
        node_of, intent_of = uk // len(names), uk % len(names)
        # sort by node, then count desc, then name asc (names are sorted, so code asc)
        order = np.lexsort((intent_of, -cnt, node_of))
        first = np.ones(len(order), bool)
        first[1:] = node_of[order][1:] != node_of[order][:-1]
        for i in order[first]:
            res[int(node_of[i])] = str(names[intent_of[i]])
        return res

    def _pair_support(self, t: _Turns, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], dict[str, Any]]:
        """Chains where s is followed later (same chain) by u, aggregated per pair."""
        res: dict[tuple[int, int], dict[str, Any]] = {}
        if not pairs:
            return res
        v = len(t.vocab)
        ps = np.array([p[0] for p in pairs], np.int64)
        pu = np.array([p[1] for p in pairs], np.int64)
        pkeys = np.unique(ps * v + pu)
        left = np.flatnonzero(np.isin(t.node, ps))
        right = np.flatnonzero(np.isin(t.node, pu))
        rc = t.chain[right]
        lo = np.searchsorted(rc, t.chain[left], "left")
        hi = np.searchsorted(rc, t.chain[left], "right")
        rep = hi - lo
        li = np.repeat(left, rep)
        offs = np.arange(int(rep.sum())) - np.repeat(np.cumsum(rep) - rep, rep)
        ri = right[np.repeat(lo, rep) + offs]
        pk = t.node[li] * v + t.node[ri]
        m = (t.pos[ri] > t.pos[li]) & np.isin(pk, pkeys)
        li, ri, pk = li[m], ri[m], pk[m]
        return self._aggregate_support(t, pk, li, ri, v)

    def _group_support(
        self, t: _Turns, pairs: list[tuple[int, int]]
    ) -> dict[tuple[int, int], dict[str, Any]]:
        """Per (s, g): chains that succeeded with their last turn absorbed into group g, whose last
        text is not s and where s occurs at an earlier turn (first_seen: earliest such s turn;
        last_seen: latest such last turn)."""
        if not pairs:
            return {}
        width = len(t.groups)
        ps = np.array([p[0] for p in pairs], np.int64)
        pg = np.array([p[1] for p in pairs], np.int64)
        pkeys = np.unique(ps * width + pg)
        last_idx = np.flatnonzero(t.last)
        last_of = np.full(t.n_chains, -1, np.int64)
        last_of[t.chain[last_idx]] = last_idx
        left = np.flatnonzero(np.isin(t.node, ps) & ~t.last)
        c = t.chain[left]
        ri = last_of[c]
        pk = t.node[left] * width + t.group[ri]
        m = t.chain_success[c] & (t.node[ri] != t.node[left]) & np.isin(pk, pkeys)
        return self._aggregate_support(t, pk[m], left[m], ri[m], width)

    def _aggregate_support(
        self, t: _Turns, pk: _IntArr, li: _IntArr, ri: _IntArr, width: int
    ) -> dict[tuple[int, int], dict[str, Any]]:
        """Support provenance per key pk = a * width + b, from matched (left turn li, right turn ri)
        pairs of one chain each: chains, distinct users, first/last seen, example sessions."""
        res: dict[tuple[int, int], dict[str, Any]] = {}
        if len(pk) == 0:
            return res
        ch = t.chain[li]
        order = np.lexsort((ch, pk))
        pk, ch, li, ri = pk[order], ch[order], li[order], ri[order]
        bounds = np.flatnonzero(np.r_[True, pk[1:] != pk[:-1], True])
        sessions = t.session
        for a, b in itertools.pairwise(bounds.tolist()):
            key = int(pk[a])
            c = ch[a:b]
            uniq_c, first_idx = np.unique(c, return_index=True)
            ts_l = t.ts[li[a:b]]
            ts_r = t.ts[ri[a:b]]
            users = t.users[t.user[li[a:b]][first_idx]]
            u_names, u_counts = np.unique(users.astype(object), return_counts=True)
            chain_ts = ts_l[first_idx]
            by_user = [chain_ts[users == name] for name in u_names]
            # examples: most recent chains first, distinct sessions
            recent = uniq_c[np.lexsort((uniq_c, -t.chain_last_ts[uniq_c]))]
            ex_s: list[str] = []
            ex_u: list[str] = []
            for cidx in recent:
                sid = sessions[int(cidx)].as_py()
                if sid is None or sid in ex_s:
                    continue
                ex_s.append(sid)
                ex_u.append(str(t.users[t.chain_user[cidx]]))
                if len(ex_s) >= self.max_examples:
                    break
            valid_l = ts_l[ts_l != np.iinfo(np.int64).min]
            valid_r = ts_r[ts_r != np.iinfo(np.int64).min]
            res[(key // width, key % width)] = {
                "support": len(uniq_c),
                "distinct_users": len(u_names),
                "independent": independent_principals(by_user, int(self.together_window_s * 1e6)),
                "users": [
                    {"user_id": str(n), "chains": int(c)} for n, c in zip(u_names, u_counts, strict=True)
                ],
                "first_seen": int(valid_l.min()) if len(valid_l) else None,
                "last_seen": int(valid_r.max()) if len(valid_r) else None,
                "example_session_ids": ex_s,
                "example_user_ids": ex_u,
            }
        return res

    def _select(self, t: _Turns, sol: dict[str, Any]) -> list[dict[str, Any]]:
        """Rules the graph supports now (before the self-aware merge)."""
        tol = 1e-12
        ok = (
            (sol["target"] >= 0)
            & (sol["probability"] >= self.min_probability - tol)
            & (sol["probability"] >= sol["own"] + self.margin - tol)
        )
        idx = np.flatnonzero(ok)
        idx = idx[t.vocab[sol["target"][idx]] != ""] if len(idx) else idx
        if len(idx) == 0:
            return []
        intents = self._majority_intents(t, np.unique(sol["target"][idx]))
        protected = set(self.protected_)
        pairs = [(int(sol["source"][i]), int(sol["target"][i])) for i in idx]
        pairs = [p for p in pairs if self.allow_protected or intents.get(p[1]) not in protected]
        by_src = {int(sol["source"][i]): i for i in idx}
        if self.group_by_interpretation:
            # support is per (source, group g*): any text of g* ending the chain successfully
            key_of = {s: (s, int(sol["group"][by_src[s]])) for s, _ in pairs}
            support = self._group_support(t, list(key_of.values()))
        else:
            key_of = {s: (s, u) for s, u in pairs}
            support = self._pair_support(t, pairs)
        rows = []
        for s, u in pairs:
            sup = support.get(key_of[s])
            if sup is None or sup["independent"] < self.min_users:
                continue
            i = by_src[s]
            source, target = str(t.vocab[s]), str(t.vocab[u])
            rows.append(
                {
                    "rule_id": rule_id_for(source, target),
                    "source": source,
                    "target": target,
                    "target_intent": intents.get(u),
                    "probability": float(sol["probability"][i]),
                    "source_success": float(sol["own"][i]),
                    "source_count": int(sol["count"][i]),
                    **sup,
                }
            )
        return rows

    def _fired_stats(self, t: _Turns) -> dict[str, tuple[int, int]]:
        """Per rule id: (successes, failures) over turns where it fired (defect unknown: skipped)."""
        valid = pc.is_valid(t.rule_id).to_numpy(zero_copy_only=False) & (t.defective >= 0)
        idx = np.flatnonzero(valid)
        if len(idx) == 0:
            return {}
        codes, names = _encode_strings(t.rule_id.take(pa.array(idx)))
        d = t.defective[idx]
        fails = np.bincount(codes, weights=(d == 1), minlength=len(names)).astype(np.int64)
        succ = np.bincount(codes, weights=(d == 0), minlength=len(names)).astype(np.int64)
        return {str(n): (int(s), int(f)) for n, s, f in zip(names, succ, fails, strict=True)}

    def _source_stats(self, t: _Turns) -> tuple[_IntArr, _IntArr]:
        """Per node: (successes, failures) over turns read as-is (no rule fired)."""
        v = len(t.vocab)
        plain = pc.is_null(t.rule_id).to_numpy(zero_copy_only=False)
        succ = np.bincount(t.node[plain & (t.defective == 0)], minlength=v).astype(np.int64)
        fail = np.bincount(t.node[plain & (t.defective == 1)], minlength=v).astype(np.int64)
        return succ, fail

    def _merge(
        self, t: _Turns, fresh: list[dict[str, Any]], previous: RewriteTable | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        fired = self._fired_stats(t)
        s_succ, s_fail = self._source_stats(t)
        vocab = t.vocab
        blocked = set(self.blocked_rule_ids)
        protected = set(self.protected_)

        def node_stats(text: str) -> tuple[int, int]:
            i = int(np.searchsorted(vocab, text)) if len(vocab) else 0
            if i < len(vocab) and vocab[i] == text:
                return int(s_succ[i]), int(s_fail[i])
            return 0, 0

        def with_feedback(row: dict[str, Any], prev: Mapping[str, Any] | None) -> dict[str, Any]:
            fs, ff = fired.get(row["rule_id"], (0, 0))
            if fs + ff == 0 and prev is not None:  # no new evidence: carry the last verdict's counts
                fs, ff = int(prev.get("fired_successes") or 0), int(prev.get("fired_failures") or 0)
            ss, sf = node_stats(row["source"])
            if ss + sf == 0 and prev is not None:
                ss, sf = int(prev.get("source_successes") or 0), int(prev.get("source_failures") or 0)
            return {
                **row,
                "fired_successes": fs,
                "fired_failures": ff,
                "source_successes": ss,
                "source_failures": sf,
            }

        rows: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        fresh_by_src = {r["source"]: r for r in fresh}
        taken: set[str] = set()
        refused: set[str] = set()
        if previous is not None and self.self_aware and len(previous):
            prev_rows = [with_feedback(dict(r), r) for r in previous.to_arrow().to_pylist()]
            a, b = self.prior
            pb = prob_better(
                [r["fired_successes"] + a for r in prev_rows],
                [r["fired_failures"] + b for r in prev_rows],
                [r["source_successes"] + a for r in prev_rows],
                [r["source_failures"] + b for r in prev_rows],
            )
            for r, p in zip(prev_rows, pb, strict=True):
                r["p_better"] = float(p)
                reason = None
                if r["rule_id"] in blocked:
                    reason = "blocked"
                elif not self.allow_protected and r.get("target_intent") in protected:
                    reason = f"target intent {r['target_intent']} is protected"
                elif p < self.keep_probability:
                    reason = (
                        f"self-aware: P(rule beats source)={p:.3f} < {self.keep_probability} "
                        f"(fired {r['fired_successes']}/{r['fired_failures']}, "
                        f"source {r['source_successes']}/{r['source_failures']})"
                    )
                if reason is not None:
                    dropped.append({k: r[k] for k in ("rule_id", "source", "target")} | {"reason": reason})
                    refused.add(r["rule_id"])
                    continue
                new = fresh_by_src.get(r["source"])
                if new is not None and new["rule_id"] == r["rule_id"]:
                    # the graph still supports it: refresh the mining provenance, keep the feedback
                    r = {**new, **{k: r[k] for k in _FEEDBACK_FIELDS}}
                rows.append({**r, "_kept": True})
                taken.add(r["source"])
        for r in fresh:
            if r["source"] in taken or r["rule_id"] in refused or r["rule_id"] in blocked:
                continue
            rows.append({**with_feedback(r, None), "p_better": None})
        return rows, dropped


def _solution_result(
    e: _Edges,
    cands: _IntArr,
    target: _IntArr,
    group: _IntArr,
    prob: _FloatArr,
    own: _FloatArr,
    fail: _FloatArr,
    *,
    n_comp: int,
    largest: int,
) -> dict[str, Any]:
    """Pack per-candidate solutions as `_solve` returns them: the SOLUTION_SCHEMA table plus the
    raw arrays, so the in-process and external-solver paths cannot drift apart."""
    out = np.bincount(e.src, weights=e.count, minlength=len(e.vocab))
    table = pa.table(
        [
            pa.array(e.vocab[cands].tolist(), type=pa.string()),
            pa.array(out[cands].astype(np.int64)),
            pa.array([e.vocab[i] if i >= 0 else None for i in target], type=pa.string()),
            pa.array(prob),
            pa.array(own),
            pa.array(fail),
            _state_names(e, group),
        ],
        schema=SOLUTION_SCHEMA,
    )
    return {
        "table": table,
        "source": cands,
        "count": out[cands].astype(np.int64),
        "target": target,
        "group": group,
        "probability": prob,
        "own": own,
        "components": n_comp,
        "largest": largest,
    }


def _state_names(e: _Edges, group: _IntArr) -> pa.Array:
    """SUCCESS state names of group ids (-1: null)."""
    names = e.group_names
    return pa.array([SUCCESS_PREFIX + str(names[g]) if g >= 0 else None for g in group], type=pa.string())


def _group_ids(e: _Edges, res: pa.Table) -> _IntArr:
    """Group ids of a solver's `target_state` column (null: -1), in the solver's row order."""
    if "target_state" not in res.column_names:
        raise ValueError("solver returned no target_state column; expected SOLUTION_SCHEMA")
    states = res["target_state"].to_pylist()
    names = e.group_names
    out = np.full(len(states), -1, np.int64)
    for i, st in enumerate(states):
        if st is None:
            continue
        name = st[len(SUCCESS_PREFIX) :] if st.startswith(SUCCESS_PREFIX) else None
        j = int(np.searchsorted(names, name)) if name is not None else len(names)
        if j >= len(names) or names[j] != name:
            raise ValueError(f"solver returned an unknown success state {st!r}")
        out[i] = j
    return out


def _iso(us: int) -> str:
    return (_dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(microseconds=us)).isoformat()
