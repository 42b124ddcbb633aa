"""Step 2: the absorbing chain solved for the sources of one connected component (sparse LU of
I - Q, row or column solves in bounded blocks): `solve_component` on Arrow edges, `_solve_local`
on integer ids. Pure, so it runs per group anywhere (in-process or on Spark executors)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.sparse.linalg import splu, spsolve_triangular

from selflearn.rewrite.markov.schema import (
    FAILURE,
    SOLUTION_SCHEMA,
    SUCCESS_PREFIX,
    Strategy,
    _FloatArr,
    _IntArr,
)

_BLOCK_ELEMS = 1 << 21  # dense solve blocks hold at most this many float64 (16 MiB)


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
    so 2n is FAILURE). Per source: g* and its target text as in the package docstring; `users`
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
    package docstring. With `min_probability` > 0 only groups that could reach it are considered
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
