"""Failure point isolation (issue 7): which stage failed first, learned from logs.

* `features`: log-only features of every logged turn (flat view): MiniLM embeddings of the
  request, response, understood interpretation and next request; wake score, ASR confidence and
  n-best margin, NLU confidence and margin, resolution score, error codes, action status,
  barge-in and explicit feedback, and the session around the turn (retries and their similarity).
* `neighbours`: how similar requests turned out in the labelled training log (out-of-fold votes).
* `nbest`: recognition evidence from the logged ASR n-best list (slot-word posterior mass, the
  deployed NLU's reading of the alternatives, the next request matching an alternative);
  `nbest.log_features` is the one entry point for every FPI input of a log folder.
* `rules` (baseline), `gbm` (LightGBM fusion), `mixer` (small transformer mixing encoder).
* `labels`: the label set and reading (turn_id, failed_stage) tables as plain data. Labels are the
  counterfactual-replay truth of the simulators: correct, false_wake, asr, nlu, entity_resolution,
  result, and "unsupported" for requests the assistant cannot do at all (not a stage defect).
* `metrics`, `report` (`selflearn fpi report DIR`), `train`, `cli`.

Metrics are computed over every logged turn (request turns and false wakes), "correct" included.
Nothing here imports the simulator: models read logs, and labels arrive as data.
"""
