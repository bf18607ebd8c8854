"""Candidate-pool sweep on one Open LLM Leaderboard benchmark (RouterEval's protocol, no leak).

    .venv/bin/python examples/pools_sweep.py

Skips politely when ../shared/data/openllm-v1 is absent.
"""
import sys
import tempfile

from routerrec.evaluation.pools import evaluate_pools, write_report
from routerrec.data.shared import load_openllm, shared_data_dir


def main() -> int:
    if shared_data_dir("openllm-v1") is None:
        print("skipped: ../shared/data/openllm-v1 not available")
        return 0
    records = load_openllm()
    # mf: routerrec.routing's completion-model router; mf+val: the same fit, used on a pool
    # only where it beats the best single model on that pool's validation prompts; mf+cv:
    # that check on out-of-fold predictions for the training prompts plus validation.
    report = evaluate_pools(records, benchmarks=["arc"], pools=(3, 10, 100), seeds=2,
                            routers=("mf", "mf+val", "mf+cv", "knn"), select_on="train")
    print(report["selection"])
    for row in report["summary"]["overall"]:
        print(f"m={row['m']:<4} {row['router']:<12} mu {row['mu']:.3f}  V_B {row['v_b']:.3f}  "
              f"E_p {row['e_p']:.2f} bits")
    out = tempfile.mkdtemp(prefix="pools-")
    files = write_report(report, out)
    print("report:", files["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
