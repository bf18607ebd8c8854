"""Evaluations: held-out cell metrics of completion models (``metrics``), hyper-parameter
search (``tune``), RouterBench's cost-quality hulls and AIQ (``routerbench``), RouterEval's
candidate-pool sweep (``pools``), leave-models-out cold start (``coldstart``), and the one
writer of their reports (``report``). Reference routers come from ``routing.reference``."""
