"""The built-in grammar of smart-home requests: paraphrase templates for every intent, generic
slot values, and rendering into labelled examples. The NLU trains on examples generated from it;
the user simulator renders its goals with it and paraphrases them when it retries."""

from selflearn.grammar.render import (
    Example,
    GrammarError,
    MissingSlotError,
    SpanSlot,
    UnknownTemplateError,
    generate,
    render,
    split_templates,
    templates_for,
)
from selflearn.grammar.templates import BY_ID, BY_INTENT, STYLES, TEMPLATES, Style, Template

__all__ = [
    "BY_ID",
    "BY_INTENT",
    "STYLES",
    "TEMPLATES",
    "Example",
    "GrammarError",
    "MissingSlotError",
    "SpanSlot",
    "Style",
    "Template",
    "UnknownTemplateError",
    "generate",
    "render",
    "split_templates",
    "templates_for",
]
