"""Contracts at the bottom of selflearn: data shapes that every layer may read and none owns.

So far the NLU's training examples (`nlu_examples`), which the grammar, the corpora readers, the
NLU and the labeller all exchange; the log records, Arrow schema and flat view (`selflearn.logs`)
and the deployment's domain are to join them (docs/design/README.md)."""
