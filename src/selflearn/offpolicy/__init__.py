"""Off-policy evaluation: what a candidate artifact would do to the defect rate, estimated from the
logged traffic before it goes live (the nightly graph's `evaluate` step).

* `outcomes`: the logged request turns as the estimators see them (who, what was heard, what was
  served, whether the log's own feedback says it failed), and a reward model of served texts;
* `estimate`: the direct-method estimate of a policy's defect rate, with intervals by a paired
  bootstrap over people;
* `policies`: what a learner's candidate would serve for a logged turn (the rewrite table today).

Only logged signals are read: the learner never sees the truth."""

from selflearn.offpolicy.estimate import Comparison, Estimate, compare_policies
from selflearn.offpolicy.outcomes import LoggedTurns, RewardModel, logged_turns
from selflearn.offpolicy.policies import table_policy

__all__ = [
    "Comparison",
    "Estimate",
    "LoggedTurns",
    "RewardModel",
    "compare_policies",
    "logged_turns",
    "table_policy",
]
