"""examples/online_router.py runs on the embedded sample, offline, and does what it says."""
import re
import subprocess
import sys
from pathlib import Path


def test_example_online_router_runs():
    example = Path(__file__).resolve().parents[2] / "examples" / "online_router.py"
    proc = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "delta-coder-33b joins at the population prior" in out
    share = float(re.search(r"explored share ([0-9.]+) \(cap 0.1\)", out).group(1))
    assert 0 < share <= 0.1
    learned = re.search(r"delta-coder-33b: (\d+) feedback records, .* converged after (\d+) "
                        r"requests; .* estimated ([0-9.]+), recorded ([0-9.]+)", out)
    assert learned, out  # the new model got feedback and converged ("never" fails here)
    assert int(learned.group(1)) > 20
    assert abs(float(learned.group(3)) - float(learned.group(4))) < 0.15
    assert re.search(r"the last 200 picks: .*delta-coder-33b \d+", out)  # it is routed to
    assert "same next decisions: True" in out
