"""Teachable AI: users teach the assistant their preferences (favourite team, cuisine, music, their
own names for devices), by saying so or in a guided question-and-answer sub-dialogue the assistant
opens at teachable moments; the very next turn uses what was taught. Learner-side: nothing here
imports the simulator."""

from selflearn.teach.store import Change, Preference, PreferenceKind, PreferenceStore

__all__ = ["Change", "Preference", "PreferenceKind", "PreferenceStore"]
