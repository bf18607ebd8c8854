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
    # the new model got feedback and learned its accuracy; with the row's uncertainty in the
    # likelihood (row_noise) its 95% width need not reach 0.05 within the stream
    learned = re.search(r"delta-coder-33b: (\d+) feedback records, 95% width ([0-9.]+), .*; "
                        r".* estimated ([0-9.]+), recorded ([0-9.]+)", out)
    assert learned, out
    assert int(learned.group(1)) > 20 and float(learned.group(2)) < 0.2
    assert abs(float(learned.group(3)) - float(learned.group(4))) < 0.15
    shares = dict(re.findall(r"(\w+) ([0-9.]+)", out.split("by benchmark: ")[1].split("\n")[0]))
    assert max(map(float, shares.values())) > 0.05, out  # it is routed to
    assert "same next decisions: True" in out
