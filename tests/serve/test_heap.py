from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from selflearn.serve.heap import FrozenHeap


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_the_heap_is_frozen_once_per_loaded_model() -> None:
    heap = FrozenHeap()
    model = [{"candidate": i} for i in range(1000)]  # a long-lived structure the GC would walk
    assert heap.after_load(("v0001", id(model)))
    frozen = gc.get_freeze_count()
    assert frozen >= len(model)
    assert not heap.after_load(("v0001", id(model)))  # every request asks; nothing to do
    newer = [{"candidate": i} for i in range(500)]
    assert heap.after_load(("v0002", id(newer)))
    assert gc.get_freeze_count() > frozen and heap.freezes == 2


def test_a_disabled_heap_never_freezes() -> None:
    gc.unfreeze()
    heap = FrozenHeap(enabled=False)
    assert not heap.after_load("v0001") and gc.get_freeze_count() == 0
