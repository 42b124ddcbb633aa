"""Real speech for the test bed: text to speech (espeak-ng), language models and pronunciations
for a real recogniser (pocketsphinx), and a disk cache for both.

Everything here is deterministic for (text, voice, engine configuration), which is what makes the
cache sound: the same request said by the same simulated person is rendered and recognised once.
The recogniser components themselves live in `selflearn.assistant.asr`; this package holds the
engines they drive. espeak-ng is a system program and pocketsphinx an optional Python package:
importing this package needs neither, using an engine without it raises an error that says how to
install it.
"""
