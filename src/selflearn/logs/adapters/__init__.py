"""Adapters that turn a real assistant's logs into `Turn` records (the interaction-log contract)."""
