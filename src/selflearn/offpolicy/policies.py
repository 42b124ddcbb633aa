"""What a candidate would serve for a logged turn, as a function of the turn (a policy).

A policy maps a logged turn to the text the understanding would read under it. For a rewrite table
the replay is exact where the table decides (its rule fires on what was heard) and approximate where
another layer did (a turn an online rewrite served keeps its logged text: the precomputed table runs
first, so a table without a rule for the request leaves the online layer's choice as it was)."""

from __future__ import annotations

from collections.abc import Callable

from selflearn.offpolicy.outcomes import LoggedTurns
from selflearn.rewrite.table import RewriteTable

__all__ = ["Policy", "table_policy"]

#: A policy: the logged turns -> the text served for each.
Policy = Callable[[LoggedTurns], list[str]]

_ONLINE = "online:"


def table_policy(table: RewriteTable | None) -> Policy:
    """Serve `table`'s target where it has a rule for what was heard; where a precomputed rule
    fired in the log but `table` has none, the request as heard; else what the log served."""

    def serve(turns: LoggedTurns) -> list[str]:
        out: list[str] = []
        for heard, served, rule in zip(turns.heard, turns.served, turns.rule_id, strict=True):
            hit = table.lookup(heard) if table is not None else None
            if hit is not None:
                out.append(hit.target)
            elif rule and not rule.startswith(_ONLINE):
                out.append(heard)
            else:
                out.append(served)
        return out

    return serve
