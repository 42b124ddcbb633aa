"""Step 0: rephrase chains exploded into integer-encoded turns (`_Turns`), the one input every
later step and the miner read. Texts are normalized once per distinct value; success groups
(texts, or interpretations) are assigned here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from selflearn.contracts.chains import CHAIN_SCHEMA
from selflearn.rewrite.markov.schema import INTERPRETATION_MARK, _IntArr
from selflearn.text.normalize import normalize_request

_TS = pa.timestamp("us", tz="UTC")
_LIST_COLUMNS = ("turn_ids", "asr_texts", "nlu_texts", "rule_ids", "intents", "timestamps", "defective")


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
