"""Step 1: transitions counted into the rephrase graph's edges (`count_transitions`, EDGE_SCHEMA)
and split into weakly connected components (`assign_components`), the unit each solve works on;
plus `independent_principals`, how many independent users support an edge or a rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from selflearn.rewrite.markov.schema import EDGE_SCHEMA, FAILURE, SUCCESS_PREFIX, _IntArr
from selflearn.rewrite.markov.turns import _explode, _Turns


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
