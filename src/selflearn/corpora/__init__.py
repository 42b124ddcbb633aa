"""Readers for external corpora (SLURP-format JSONL) that turn them into typed records and NLU
training examples. Reads files only; knows nothing of the runtime or the simulator."""
