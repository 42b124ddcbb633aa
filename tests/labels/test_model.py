"""The labelling model: slot decoding, the frozen/fine-tuned split, and the context switch."""

from __future__ import annotations

import numpy as np
import torch

from selflearn.labels.model import LabelModel, ModelConfig, decode_slots, extended_mask
from selflearn.text.encoder import load_bert, load_tokenizer


def test_decode_slots_joins_pieces_and_words() -> None:
    text = "play the weeknd in the kitchen"
    # word pieces of "play the weeknd in the kitchen" with "weeknd" split in two pieces
    offsets = [(0, 4), (5, 8), (9, 13), (13, 15), (16, 18), (19, 22), (23, 30)]
    tags = ["<none>", "artist", "room"]
    probs = np.zeros((7, 3))
    for i, t in enumerate([0, 1, 1, 0, 0, 0, 2]):  # the second piece of "weeknd" says O
        probs[i, t] = 0.9
        probs[i, (t + 1) % 3] = 0.1
    spans = decode_slots(text, offsets, probs, tags)
    assert [(n, v, s, e) for n, v, s, e, _c in spans] == [
        ("artist", "the weeknd", 5, 15),
        ("room", "kitchen", 23, 30),
    ]
    assert all(0.0 <= c <= 1.0 for *_x, c in spans)


def test_lower_plus_upper_equals_the_full_encoder() -> None:
    bert = load_bert().eval()
    cfg = ModelConfig(n_cat=[3], n_num=2, n_intents=4, n_tags=3, trainable_layers=2, d_model=16, n_layers=1)
    model = LabelModel(cfg, bert).eval()
    enc = load_tokenizer()(
        ["turn on the lights", "hi"], ["ok", "hello there"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        full = bert(**enc).last_hidden_state
        split = model.upper(
            model.lower(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]), enc["attention_mask"]
        )
    m = enc["attention_mask"].bool()
    assert torch.allclose(full[m], split[m], atol=1e-4)
    trainable = {n.split(".")[2] for n, p in model.bert.named_parameters() if p.requires_grad}
    assert trainable == {"4", "5"}  # only the top two of six layers are fine-tuned
    assert extended_mask(torch.tensor([[1, 0]])).shape == (1, 1, 1, 2)
