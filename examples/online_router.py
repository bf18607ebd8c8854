"""Learn from served traffic: an online router takes feedback, onboards a new LLM mid-stream by
exploring it within a budget, and is saved and loaded without losing its state.

The embedded sample is replayed as traffic: 30% of the prompts train the ``mf`` router without
one model (``delta-coder-33b``); the rest arrive in batches, each routed, and the recorded
score of the chosen model comes back as feedback -- one batch late, and for 80% of the
requests only (delayed and partial feedback). The held-out model joins after a quarter of the
stream with its price per call; Thompson sampling explores it within 10% of the traffic and an
expected regret of 0.3 per exploring request. docs/online.md explains the model.

Run from the repository root:  .venv/bin/python examples/online_router.py   (about a minute)
"""
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

import routerrec
from routerrec.online import OnlineRouter

NEW = "delta-coder-33b"
records = routerrec.load_sample()
order = list(np.random.default_rng(0).permutation(records.prompts))
n_train = int(0.3 * len(order))
train = records.filter(prompts=order[:n_train],
                       models=[m for m in records.models if m != NEW])
stream = order[n_train:]
text = dict(zip(records.texts["prompt"].to_list(), records.texts["text"].to_list()))
table = records.table
score = {(p, m): s for p, m, s in zip(table["prompt"].to_list(), table["model"].to_list(),
                                       table["score"].to_list())}
price = float(table.filter(table["model"] == NEW)["cost"].mean())
benchmark = records.prompt_benchmark

online = OnlineRouter.fit(train, router_params={"method": "als"}, policy="thompson",
                          max_explore_share=0.1, max_regret=0.3, seed=0)
print(f"fitted on {train.n_prompts} prompts x {train.n_models} models; "
      f"streaming {len(stream)} prompts")

rng = np.random.default_rng(1)
owed, got, explored, picks, converged_at = [], [], [], [], None
new_share = defaultdict(list)  # benchmark -> [routed to NEW?] after NEW joined
join = len(stream) // 4
for start in range(0, len(stream), 25):
    if start >= join and NEW not in online.models:
        online.add_model(NEW, cost_per_call=price)
        print(f"request {start}: {NEW} joins at the population prior: {online.posterior(NEW)}")
    batch = stream[start:start + 25]
    decisions = online.route([text[p] for p in batch])
    for request_id, cell in owed:  # the last batch's feedback arrives now, for 80% of it
        if rng.random() < 0.8 and cell in score:  # (a cell never recorded has no feedback)
            online.feedback(request_id=request_id, score=score[cell])
    owed = [(d.request_id, (p, d.model)) for p, d in zip(batch, decisions)]
    for p, d in zip(batch, decisions):
        got.append(score.get((p, d.model), np.nan))
        explored.append(d.explored)
        picks.append(d.model)
        if NEW in online.models:
            new_share[benchmark[p]].append(d.model == NEW)
    if NEW in online.models and converged_at is None and online.posterior(NEW)["converged"]:
        converged_at = start + len(batch) - join

post = online.posterior(NEW)
recorded = [p for p in stream if (p, NEW) in score]  # it was never evaluated on trivia
truth = np.mean([score[(p, NEW)] for p in recorded])
estimate = online.predict([text[p] for p in recorded], models=[NEW]).mean()
print(f"mean recorded score of the routed picks: {np.nanmean(got):.3f}; explored share "
      f"{np.mean(explored):.3f} (cap 0.1)")
converged = ("not converged" if converged_at is None else
             f"converged after {converged_at} requests")
print(f"{NEW}: {post['n_feedback']} feedback records, 95% width {post['width']:.3f}, "
      f"{converged}; mean score on its {len(recorded)} recorded stream prompts: estimated "
      f"{estimate:.3f}, recorded {truth:.3f}")
print("its share of traffic by benchmark: " + ", ".join(
    f"{b} {np.mean(v):.2f}" for b, v in sorted(new_share.items())))
print("the last 200 picks: " + ", ".join(f"{m} {n}" for m, n in
                                         Counter(picks[-200:]).most_common(4)))

with tempfile.TemporaryDirectory() as tmp:
    online.save(Path(tmp) / "online")
    loaded = OnlineRouter.load(Path(tmp) / "online")
    probe = [text[p] for p in stream[:5]]
    same = [d.model for d in online.route(probe)] == [d.model for d in loaded.route(probe)]
    print(f"saved and loaded: {len(loaded.models)} models, same next decisions: {same}")
