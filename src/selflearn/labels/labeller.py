"""The fitted labeller: logs in, a labels table with confidences out.

`Labeller.fit(turns)` builds dialogues and weak labels from the log (`dataset`), caches the frozen
encoder layers per distinct turn text, pretrains on synthetic defects (`pretrain`), then trains all
heads on the feedback labels (`train`). `predict(turns)` returns one row per request turn
(`LABELS_SCHEMA`): turn defect, goal segment (a goal id per turn), goal success, intent and slot
values, each with a confidence, and `auto`: whether every turn-level confidence clears
`auto_threshold`, i.e. whether the turn would be labelled without a human.

Labelling speed: dynamic int8 quantisation of every Linear layer (`quantize=True`), a short
`max_length`, length-sorted batches, and one encoder pass per distinct (request, response) pair.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from selflearn.feedback.defect import DefectScorer
from selflearn.feedback.rephrase_baseline import PairScorer
from selflearn.labels.dataset import (
    CAT_FEATURES,
    NUM_FEATURES,
    Dialogue,
    DialogueBuilder,
    Vocab,
    WeakLabelConfig,
    split_long,
)
from selflearn.labels.encoding import TextCache, make_batch
from selflearn.labels.model import LabelModel, ModelConfig, decode_slots
from selflearn.labels.pretrain import PretrainConfig, pretrain
from selflearn.labels.train import TrainConfig, batches, train_multitask
from selflearn.logs.records import Turn
from selflearn.text.encoder import load_bert, load_tokenizer
from selflearn.util.atomic import atomic_path
from selflearn.util.learner import Learner

__all__ = ["LABELS_SCHEMA", "Labeller", "LabellerConfig", "TurnPredictions"]

SLOT_TYPE = pa.struct(
    [
        ("name", pa.string()),
        ("value", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("confidence", pa.float64()),
    ]
)

LABELS_SCHEMA = pa.schema(
    [
        ("turn_id", pa.string()),
        ("session_id", pa.string()),
        ("request_text", pa.string()),
        ("defect", pa.bool_()),
        ("defect_prob", pa.float64()),
        ("defect_conf", pa.float64()),
        ("goal_id", pa.string()),  # session_id + ":" + the goal's first turn_id
        ("goal_start", pa.bool_()),
        ("goal_start_conf", pa.float64()),
        ("goal_success", pa.bool_()),
        ("goal_success_prob", pa.float64()),
        ("goal_success_conf", pa.float64()),
        ("intent", pa.string()),
        ("intent_conf", pa.float64()),
        ("slots", pa.list_(SLOT_TYPE)),
        ("slots_conf", pa.float64()),
        ("auto", pa.bool_()),
    ]
)
"""One row per request turn, in session/time order. `*_conf` = probability of the label given."""


@dataclass
class LabellerConfig:
    """The typed, checked view of a `Labeller`'s parameters (`Labeller.settings()`): model sizes,
    training, weak-label rules, speed. The parameters themselves are the labeller's `__init__`
    arguments, so `get_params`, `clone` and the manifest all read one spelling."""

    trainable_layers: int = 1
    max_length: int = 40
    d_model: int = 128
    n_layers: int = 2
    context: bool = True
    # Heads whose output starts from the weak labels' verdict (skip connection, see model.py).
    # Goal segmentation: the rephrase-link and time-gap rules are hard to beat and the network
    # alone over-fitted the training population; defect and goal success learn freely.
    rule_prior: list[str] = field(default_factory=lambda: ["goal_start"])
    # "last_defect": a goal succeeded iff its last attempt was no defect (the defect head at the
    # goal's last turn decides; the goal_success head is then an auxiliary task); "head": the
    # mean of the goal_success head over the goal's turns.
    goal_success_from: str = "last_defect"
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)  # epochs=0 skips it
    weak: WeakLabelConfig = field(default_factory=WeakLabelConfig)
    auto_threshold: float = 0.9
    batch_dialogues: int = 64  # labelling batch
    quantize: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.rule_prior) - {"defect", "goal_start", "goal_success"}
        if unknown:
            raise ValueError(f"rule_prior names unknown heads {sorted(unknown)}")
        if self.goal_success_from not in ("last_defect", "head"):
            raise ValueError(
                f"goal_success_from must be 'last_defect' or 'head', got {self.goal_success_from!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabellerConfig:
        d = dict(d)
        return cls(
            **{k: v for k, v in d.items() if k not in ("train", "pretrain", "weak")},
            train=TrainConfig(**(d.get("train") or {})),
            pretrain=PretrainConfig(**(d.get("pretrain") or {})),
            weak=WeakLabelConfig(**(d.get("weak") or {})),
        )


@dataclass
class TurnPredictions:
    """Per-turn head outputs of one dialogue (arrays of length T)."""

    dialogue: Dialogue
    defect: np.ndarray
    goal_start: np.ndarray
    goal_success: np.ndarray
    intent_proba: np.ndarray  # (T, n_intents)
    slots: list[list[tuple[str, str, int, int, float]]]
    slots_conf: np.ndarray


def _quantized(model: LabelModel) -> LabelModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        q = copy.deepcopy(model)
        # The BERT layers carry nearly all the cost; the dialogue transformer's fast path reads
        # its Linear weights directly and would not run on quantised ones.
        q.bert = quantize_dynamic(q.bert, {torch.nn.Linear}, dtype=torch.qint8)
    return q


class Labeller(Learner):
    """Fit on logs (weak labels only), then label logs. See the module docstring.

    Parameters are `LabellerConfig`'s fields, with the training, pretraining and weak-label
    settings as plain mappings (`train={"epochs": 3}`); the rephrase detector and defect scorer
    the weak labels come from are collaborators given to `fit` (and `load`), not parameters.
    """

    manifest_kind = "selflearn.labels.Labeller"

    def __init__(
        self,
        trainable_layers: int = 1,
        max_length: int = 40,
        d_model: int = 128,
        n_layers: int = 2,
        context: bool = True,
        rule_prior: Sequence[str] = ("goal_start",),
        goal_success_from: str = "last_defect",
        train: Mapping[str, Any] | None = None,
        pretrain: Mapping[str, Any] | None = None,
        weak: Mapping[str, Any] | None = None,
        auto_threshold: float = 0.9,
        batch_dialogues: int = 64,
        quantize: bool = True,
    ) -> None:
        self.trainable_layers = trainable_layers
        self.max_length = max_length
        self.d_model = d_model
        self.n_layers = n_layers
        self.context = context
        self.rule_prior = rule_prior
        self.goal_success_from = goal_success_from
        self.train = train
        self.pretrain = pretrain
        self.weak = weak
        self.auto_threshold = auto_threshold
        self.batch_dialogues = batch_dialogues
        self.quantize = quantize

    # -- fitting -------------------------------------------------------------------------------------
    def settings(self) -> LabellerConfig:
        """The parameters, typed and checked (a bad value raises ValueError naming it)."""
        params = self.get_params()
        return LabellerConfig.from_dict({**params, "rule_prior": list(params["rule_prior"])})

    def _cfg(self) -> LabellerConfig:
        return self.settings()

    def _new_model(self, builder: DialogueBuilder) -> LabelModel:
        cfg = self._cfg()
        mc = ModelConfig(
            n_cat=[len(builder.cat_vocabs_[k]) for k in CAT_FEATURES],
            n_num=len(NUM_FEATURES),
            n_intents=len(builder.intents_),
            n_tags=len(builder.slot_names_),
            trainable_layers=cfg.trainable_layers,
            max_length=cfg.max_length,
            d_model=cfg.d_model,
            n_layers=cfg.n_layers,
            context=cfg.context,
            prior_features=[
                NUM_FEATURES.index("weak_" + h) if h in cfg.rule_prior else -1
                for h in ("defect", "goal_start", "goal_success")
            ],
        )
        return LabelModel(mc, load_bert())

    def fit(
        self,
        turns: Iterable[Turn],
        progress: Callable[[str, int, int], None] | None = None,
        *,
        detector: PairScorer | None = None,
        scorer: DefectScorer | None = None,
    ) -> Labeller:
        """Fit on `turns` (complete sessions), with weak labels from `detector` and `scorer`
        (defaults: the heuristic ones). `progress(phase, done, total)` reports work in dialogues
        (phases "encode", "pretrain", "train")."""
        cfg = self._cfg()
        say = progress or (lambda _p, _d, _t: None)
        turns = list(turns)
        t0 = time.perf_counter()
        self.builder_ = DialogueBuilder(detector, scorer, cfg.weak).fit(turns)
        self.model_ = self._new_model(self.builder_)
        dialogues = split_long(self.builder_.build(turns), self.model_.config.max_turns)
        if not dialogues:
            raise ValueError("no request turns to learn from (every turn's wake word failed?)")
        cache = TextCache(load_tokenizer(), cfg.max_length)
        pairs = [p for d in dialogues for p in zip(d.requests, d.responses, strict=True)]
        cache.add(pairs)
        total = sum(h is None for h in cache.hidden)
        done = [0]

        def enc(n: int) -> None:
            done[0] += n
            say("encode", done[0], total)

        cache.compute(self.model_, progress=enc)
        self.pretrain_history_: list[dict[str, float]] = []
        if cfg.pretrain.epochs > 0:
            n_steps = cfg.pretrain.epochs * len(dialogues)
            pdone = [0]

            def pre(n: int, _losses: dict[str, float]) -> None:
                pdone[0] += n
                say("pretrain", pdone[0], n_steps)

            self.pretrain_history_ = pretrain(self.model_, dialogues, cache, cfg.pretrain, progress=pre)
        n_train = cfg.train.epochs * len(dialogues)
        tdone = [0]

        def tr(n: int, _losses: dict[str, float]) -> None:
            tdone[0] += n
            say("train", tdone[0], n_train)

        self.history_ = train_multitask(self.model_, dialogues, cache, self.tag_of_, cfg.train, progress=tr)
        self.fit_seconds_ = time.perf_counter() - t0
        self.n_train_turns_ = sum(len(d) for d in dialogues)
        self._runtime: LabelModel | None = None
        return self

    @property
    def tag_of_(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.builder_.slot_names_.items) if i > 0}

    def _check(self) -> None:
        self.check_fitted()

    # -- labelling -----------------------------------------------------------------------------------
    def _tokenizer(self) -> Any:
        tok = getattr(self, "_tok", None)
        if tok is None:
            tok = self._tok = load_tokenizer()
        return tok

    def _runtime_model(self) -> LabelModel:
        rt = getattr(self, "_runtime", None)
        if rt is None:
            fresh = _quantized(self.model_) if self._cfg().quantize else self.model_
            fresh.eval()
            self._runtime = fresh
            return fresh
        return rt  # type: ignore[no-any-return]

    @torch.no_grad()
    def predict_dialogues(
        self, dialogues: Sequence[Dialogue], progress: Callable[[int], None] | None = None
    ) -> list[TurnPredictions]:
        """Head outputs for each dialogue (at most `max_turns` turns each; see `split_long`)."""
        self._check()
        model = self._runtime_model()
        cfg = self._cfg()
        cache = TextCache(self._tokenizer(), cfg.max_length)
        cache.add([p for d in dialogues for p in zip(d.requests, d.responses, strict=True)])
        cache.compute(model)
        tags = self.builder_.slot_names_.items
        out: list[TurnPredictions] = []
        import random

        groups = batches(dialogues, cfg.batch_dialogues, random.Random(0), shuffle=False)
        by_id: dict[int, TurnPredictions] = {}
        for group in groups:
            batch = make_batch(group, cache, None, model.config.max_turns, with_targets=False)
            res = model(batch.inputs)
            sig = {h: torch.sigmoid(res[h]).numpy() for h in ("defect", "goal_start", "goal_success")}
            intent_logits = res["intent"].clone()
            intent_logits[..., 0] = -1e9  # "<none>" is never a label
            iprob = torch.softmax(intent_logits, -1).numpy()
            sprob = torch.softmax(res["slots"], -1).numpy()
            row = 0
            for b, d in enumerate(group):
                n = len(d)
                slots, sconf = [], np.ones(n)
                for i in range(n):
                    pid = batch.pair_ids[row]
                    pieces = cache.request_pieces[pid]
                    probs = sprob[row][pieces] if len(pieces) else np.zeros((0, len(tags)))
                    slots.append(decode_slots(d.requests[i], cache.offsets[pid], probs, tags))
                    sconf[i] = float(probs.max(-1).min()) if len(pieces) else 1.0
                    row += 1
                by_id[id(d)] = TurnPredictions(
                    dialogue=d,
                    defect=sig["defect"][b, :n].astype(np.float64),
                    goal_start=sig["goal_start"][b, :n].astype(np.float64),
                    goal_success=sig["goal_success"][b, :n].astype(np.float64),
                    intent_proba=iprob[b, :n].astype(np.float64),
                    slots=slots,
                    slots_conf=sconf,
                )
            if progress is not None:
                progress(sum(len(d) for d in group))
        out = [by_id[id(d)] for d in dialogues]
        return out

    def predict(self, turns: Iterable[Turn], progress: Callable[[int, int], None] | None = None) -> pa.Table:
        """Label every request turn of `turns` (complete sessions): `LABELS_SCHEMA`.
        `progress(done_turns, total_turns)` after each batch."""
        self._check()
        dialogues = self.builder_.build(list(turns), with_labels=False)
        windows = split_long(dialogues, self.model_.config.max_turns)
        total = sum(len(d) for d in windows)
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress(done[0], total)

        preds = self.predict_dialogues(windows, progress=step)
        return self.to_table(preds)

    def to_table(self, preds: Sequence[TurnPredictions]) -> pa.Table:
        """Labels table from head outputs: goal segments, segment-level success, confidences."""
        cfg = self._cfg()
        intents = self.builder_.intents_.items
        rows: list[dict[str, Any]] = []
        prev_session = None
        goal_id = ""
        seg: list[int] = []

        def close_segment() -> None:
            if not seg:
                return
            if cfg.goal_success_from == "last_defect":
                p = 1.0 - rows[seg[-1]]["defect_prob"]
            else:
                p = float(np.mean([rows[k]["goal_success_prob"] for k in seg]))
            for k in seg:
                rows[k]["goal_success_prob"] = p
                rows[k]["goal_success"] = p >= 0.5
                rows[k]["goal_success_conf"] = max(p, 1.0 - p)
            seg.clear()

        for pr in preds:
            d = pr.dialogue
            for i, tid in enumerate(d.turn_ids):
                first = d.session_id != prev_session
                prev_session = d.session_id
                gs = float(pr.goal_start[i])
                start = first or gs >= 0.5
                if start:
                    close_segment()
                    goal_id = f"{d.session_id}:{tid}"
                k = int(pr.intent_proba[i].argmax())
                dp = float(pr.defect[i])
                rows.append(
                    {
                        "turn_id": tid,
                        "session_id": d.session_id,
                        "request_text": d.requests[i],
                        "defect": dp >= 0.5,
                        "defect_prob": dp,
                        "defect_conf": max(dp, 1.0 - dp),
                        "goal_id": goal_id,
                        "goal_start": start,
                        "goal_start_conf": 1.0 if first else max(gs, 1.0 - gs),
                        "goal_success": False,
                        "goal_success_prob": float(pr.goal_success[i]),
                        "goal_success_conf": 0.0,
                        "intent": intents[k] if k > 0 else None,
                        "intent_conf": float(pr.intent_proba[i, k]),
                        "slots": [
                            {"name": n, "value": v, "start": s, "end": e, "confidence": c}
                            for n, v, s, e, c in pr.slots[i]
                        ],
                        "slots_conf": float(pr.slots_conf[i]),
                        "auto": False,
                    }
                )
                seg.append(len(rows) - 1)
        close_segment()
        for r in rows:
            r["auto"] = min(r["defect_conf"], r["goal_success_conf"], r["intent_conf"]) >= cfg.auto_threshold
        return pa.Table.from_pylist(rows, schema=LABELS_SCHEMA)

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """`manifest.json` (parameters, model shape, vocabularies) + `model.pt` (state dict), each
        written atomically."""
        self._check()
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        b = self.builder_
        with atomic_path(out / "model.pt") as tmp:
            torch.save(self.model_.state_dict(), tmp)
        return self.write_manifest(
            out,
            model_config=self.model_.config.to_dict(),
            cat_vocabs={k: v.items for k, v in b.cat_vocabs_.items()},
            intents=b.intents_.items,
            slot_names=b.slot_names_.items,
        )

    @classmethod
    def load(cls, directory: str | Path, detector: PairScorer | None = None) -> Labeller:
        """A saved labeller; `detector` gives the weak labels of the logs it will label."""
        m = cls.read_manifest(directory)
        lab: Labeller = cls.from_manifest(m)
        b = DialogueBuilder(detector, None, lab.settings().weak)
        b.cat_vocabs_ = {k: Vocab(list(v)) for k, v in m["cat_vocabs"].items()}
        b.intents_ = Vocab(list(m["intents"]))
        b.slot_names_ = Vocab(list(m["slot_names"]))
        lab.builder_ = b
        lab.model_ = LabelModel(ModelConfig(**m["model_config"]), load_bert())
        lab.model_.load_state_dict(torch.load(Path(directory) / "model.pt", weights_only=True))
        lab.model_.eval()
        lab._runtime = None
        return lab
