"""The assistant's understanding models and their pipeline component.

Two models fill the ``nlu`` stage: intent classification with calibrated confidences plus a CRF
slot tagger (`model.NluModel`, the default), and the shipped MiniLM fine-tuned jointly for intent
and slots (`transformer.TransformerNlu`); `load.load_nlu` reads either from a saved directory and
`load.Understanding` is what the runtime asks of one. The component (`component.NluComponent`) is
registered as ``nlu.model.v1``."""
