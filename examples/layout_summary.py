"""What the load_<layout>.py examples print once a layout is read: the records' summary and
ALS's held-out RMSE beside the mean baselines (imported by those scripts, not run alone)."""
import json

import routerrec
from routerrec.evaluation.metrics import heldout_report


def summarise(records) -> None:
    """Print ``records.info()`` (prompts per benchmark) and ALS's held-out RMSE on 10% of cells."""
    info = records.info()
    info["benchmarks"] = {name: b["prompts"] for name, b in info["benchmarks"].items()}
    print(json.dumps(info, indent=1))
    train, test = records.split_cells(0.1, seed=0)
    report = heldout_report(routerrec.fit(train, method="als"), train, test)
    print(f"held-out RMSE: als {report['als']['rmse']:.4f}, model-mean "
          f"{report['model-mean']['rmse']:.4f}, prompt-mean {report['prompt-mean']['rmse']:.4f}")
