"""Crowd friction: requests the assistant reads confidently that people keep having to say again.

The online gate trusts a confident recogniser and NLU, and on the long tail that trust is
misplaced in a way the logs show. A request that several people said, and after which most of them
asked again in the same session, did not work, however sure the NLU was ("do i have any
appointments today" read as a calendar query without its event, NLU 1.0). Such a request is let
through the gate to the ranker, which still fires only where it has learned to from the logs'
feedback. The statistic is the one that keeps unreliable texts out of the global index
(`online_train.retry_stats`), applied to the request side.

The decision one person's request gets rests on what other people did, so a request needs
`min_users` distinct people behind it: the global layer's privacy threshold. Only turns no rewrite
touched count: after a rewrite, the friction belongs to the rewrite (`suppressed_rewrites`).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["CrowdFriction", "FrictionTurn", "scrub_user"]

FrictionTurn = tuple[str, str, float, bool]
"""(request text, user id, time in epoch seconds, followed by another request of the session)."""


@dataclass
class CrowdFriction:
    """Per request text, who said it when and whether they had to go on; `unreliable` judges a
    text over the whole log or over what was logged before a given time (training replays the
    gate as it stood at each request)."""

    min_users: int = 3
    min_count: int = 4
    share_max: float = 0.65
    occurrences: dict[str, list[tuple[float, str, bool]]] = field(default_factory=dict)

    def fit(self, turns: Iterable[FrictionTurn]) -> CrowdFriction:
        by: dict[str, list[tuple[float, str, bool]]] = defaultdict(list)
        for text, user, t, followed in turns:
            if text:
                by[text].append((float(t), user, bool(followed)))
        for occ in by.values():
            occ.sort()
        self.occurrences = dict(by)
        return self

    def _judge(self, occ: Sequence[tuple[float, str, bool]]) -> bool:
        n = len(occ)
        if n < self.min_count:
            return False
        followed = sum(1 for o in occ if o[2])
        # The same smoothing as `online_train.unreliable_texts`: a few occurrences decide nothing.
        return (followed + 0.5) / (n + 1.0) > self.share_max and len({o[1] for o in occ}) >= self.min_users

    def unreliable(self, text: str, before: float | None = None) -> bool:
        """Did enough people have to try again after `text` (over the turns logged before `before`,
        when given)?"""
        occ = self.occurrences.get(text)
        if not occ:
            return False
        if before is not None:
            occ = occ[: bisect.bisect_left(occ, (before,))]
        return self._judge(occ)

    def published(self) -> dict[str, list[str]]:
        """Each request unreliable over the whole log -> the distinct people behind it (kept so
        that deleting a person can withdraw their support, as for global candidates)."""
        return {
            text: sorted({o[1] for o in occ})
            for text, occ in sorted(self.occurrences.items())
            if self._judge(occ)
        }


def scrub_user(published: Mapping[str, Sequence[str]], user_id: str, min_users: int) -> dict[str, list[str]]:
    """`published` without `user_id`'s support: a request left with fewer than `min_users`
    distinct people behind it no longer opens the gate."""
    out: dict[str, list[str]] = {}
    for text, users in published.items():
        rest = [u for u in users if u != user_id]
        if len(rest) >= min_users:
            out[text] = rest
    return out
