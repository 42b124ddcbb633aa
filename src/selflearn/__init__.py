"""selflearn: make a conversational assistant learn from its own users' implicit feedback."""

__version__ = "0.1.0"
