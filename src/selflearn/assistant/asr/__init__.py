"""Speech recognisers: components filling the turn's `asr` stage from the `Utterance`.

All share one interface (``name = "asr"``, ``__call__(state) -> state``, engine recorded in
`AsrStage.engine`), so the simulated noisy channel and a real recogniser swap by config.
"""
