"""The assistant's trained NLU: intent classification with calibrated confidences plus a CRF slot
tagger (`model.NluModel`), its training-data types (`data`) and its pipeline component
(`component.NluComponent`, registered as ``nlu.model.v1``)."""
