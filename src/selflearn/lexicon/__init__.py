"""A domain's vocabularies as the runtime and the learners search them: name indexes over colours,
media types and titles, genres, cuisines and teams, built once per domain (`lexicon_for`), and the
domain file's reader and writer (`io`)."""

from selflearn.lexicon.catalog import MediaCatalog
from selflearn.lexicon.lexicon import Lexicon, lexicon_for

__all__ = ["Lexicon", "MediaCatalog", "lexicon_for"]
