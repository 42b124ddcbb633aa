"""Automatic labels: a dialogue model that turns binary feedback (barge-in, rephrase, yes/no) into
turn defect, goal segmentation, goal success, intent and slot labels, trained on logs alone.

Modules: `dataset` (dialogues and weak labels from logs), `model` (turn encoder + dialogue
transformer with multi-task heads), `pretrain` (contrastive pretraining on synthetic defects),
`train` (multi-task training on feedback labels), `labeller` (the fitted labeller: predict ->
labels table with confidences), `feedback_nlu` (confident successful turns -> NLU examples),
`cli` (`selflearn label`).
"""
