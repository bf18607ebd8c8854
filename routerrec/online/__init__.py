"""Online learning for the ``mf`` router: feedback updates model posteriors one record at a
time, new models join at the population prior and are explored within user-set budgets
(docs/online.md)."""
from .explore import DirectedPolicy, GreedyPolicy, Policy, ThompsonPolicy, UCBPolicy
from .router import Decision, OnlineRouter

__all__ = ["OnlineRouter", "Decision", "Policy", "ThompsonPolicy", "UCBPolicy", "DirectedPolicy",
           "GreedyPolicy"]
