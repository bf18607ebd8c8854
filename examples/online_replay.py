"""Replay the sample as a stream of requests: online learning with delayed, partial feedback
and models joining mid-stream, against the router fitted once, an offline probe run of 50
prompts per new model, the same probe run at the online router's probing cost, and the oracle.

Run from the repository root:  .venv/bin/python examples/online_replay.py [PLOT.png]
(every second prompt of the sample, so it runs in well under a minute)
"""
import sys

import routerrec
from routerrec.evaluation.online import markdown_report, replay, report_figure

records = routerrec.load_sample()
records = records.filter(prompts=records.prompts[::2])

# a fifth of the models join at 25% and 50% of the stream; half of the requests get their
# score back, 20 requests late; exploration: at most 10% of requests, each exploring pick
# giving up at most 0.3 of expected score
report = replay(records, seed=0, share_new_models=0.2, arrivals=(0.25, 0.5),
                feedback_share=0.5, feedback_delay=20, policy="thompson",
                online_params={"max_explore_share": 0.1, "max_regret": 0.3})
print(markdown_report(report))
online, fixed = report["routers"]["online"], report["routers"]["fixed"]
print(f"online gave up {online['regret']:.0f} correct answers to the oracle over "
      f"{report['n_stream']} requests; the router fitted once {fixed['regret']:.0f}")
for name, new in report["new"].items():
    print(f"{name}: joined at request {new['arrival_step']}, {new['calls']} calls "
          f"({new['explored_calls']} exploring), accuracy estimate off by "
          f"{new['estimate_error']:.1f} points")
if len(sys.argv) > 1:
    report_figure(report).savefig(sys.argv[1])
    print("wrote", sys.argv[1])
