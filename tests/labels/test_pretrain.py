"""Synthetic defects for contrastive pretraining: each corruption changes what it says it does."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from selflearn.labels.dataset import DialogueBuilder
from selflearn.labels.pretrain import _slot_pool, corrupt_dialogue


def test_corruptions_flag_exactly_the_changed_turns(sim_log: dict[str, Any]) -> None:
    b = DialogueBuilder().fit(sim_log["turns"])
    ds = b.build(sim_log["turns"])
    pool = _slot_pool(ds)
    rng = random.Random(0)
    seen = set()
    for d in ds * 3:
        fake, kind = corrupt_dialogue(d, ds, pool, rng)
        seen.add(kind)
        assert fake.corrupt is not None and fake.corrupt.shape == (len(d),)
        assert d.corrupt is None  # the original is untouched
        if kind == "swap":
            changed = np.array([a != b for a, b in zip(fake.responses, d.responses, strict=True)])
            assert changed.any() and (fake.corrupt.astype(bool) == changed).all()
            assert fake.requests == d.requests
        elif kind == "shuffle":
            assert sorted(fake.requests) == sorted(d.requests) and fake.corrupt.sum() >= 2
        else:
            changed = np.array([a != b for a, b in zip(fake.requests, d.requests, strict=True)])
            assert changed.sum() == 1 and fake.responses == d.responses
            assert (fake.corrupt.astype(bool) == changed).all()
    assert seen == {"swap", "shuffle", "slot"}
