"""The estimator: `MarkovRewriteMiner` runs the steps (turns, edges, per-component solves) on
integer-encoded data, applies the publishing rules and support counts, and re-judges live rules
with the self-aware test."""

from __future__ import annotations

import datetime as _dt
import itertools
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from selflearn.contracts.domain import protected_by_default
from selflearn.rewrite.markov.compare import prob_better
from selflearn.rewrite.markov.edges import (
    _components_of,
    _count,
    _destinations,
    _Edges,
    _edges_to_arrow,
    _group_distinct,
    independent_principals,
)
from selflearn.rewrite.markov.schema import (
    SOLUTION_SCHEMA,
    SUCCESS_PREFIX,
    ComponentSolver,
    Strategy,
    _FloatArr,
    _IntArr,
    rule_id_for,
)
from selflearn.rewrite.markov.solve import _solve_local
from selflearn.rewrite.markov.turns import _encode_strings, _explode, _Turns
from selflearn.rewrite.table import REWRITE_SCHEMA, RewriteTable

_FEEDBACK_FIELDS = ("fired_successes", "fired_failures", "source_successes", "source_failures", "p_better")


class MarkovRewriteMiner:
    """Mines source -> target rewrites from rephrase chains (absorbing Markov chain) and, given the
    previously published table, keeps a live rule only while its fired turns beat its source.

    Publishing rule for a source s seen >= `min_source_count` times, with g* its best success group
    and u* the target text in it (package docstring; `group_by_interpretation=False`: one group per
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
