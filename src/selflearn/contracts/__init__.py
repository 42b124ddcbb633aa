"""Contracts at the bottom of selflearn: data shapes that every layer may read and none owns.

The deployment's domain (`domain`), what the executor asks of a home and what it did (`actions`),
the NLU's training examples (`nlu_examples`) and the rephrase-chain table (`chains`); the log
records, Arrow schema and flat view live in `selflearn.logs` (docs/ARCHITECTURE.md)."""
