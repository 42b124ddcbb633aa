"""The interaction-log contract: records, Arrow schema and version, JSONL/Parquet IO, validation,
quarantine. Imports nothing else of selflearn but `selflearn.text`."""
