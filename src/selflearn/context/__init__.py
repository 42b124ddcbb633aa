"""Context-aware interpretation: the home, the device and the user decide what a request means.

signals (what a turn's context holds), history (per-user habits from logs), features (candidate
interpretations and their features), training (labels from implicit feedback), reranker (the
LightGBM model), component (the ``context.rerank.v1`` pipeline stage), nightly (retrain and
publish from logs), cli (``selflearn context train|forget``). Reads logs only, never the simulator.
"""
