"""Property suite: whatever an evaluation puts in its report (NaN, ±inf, numpy scalars and
arrays, numpy keys, any text), ``write_report`` writes strict JSON that reads back as the
report with NaN and ±inf as null, and a Markdown file holding the text it was given.

Runs the ``properties.PROFILE`` (200 cases in the normal run, ``HYPOTHESIS_PROFILE=long``
20,000); the number of generated cases is printed in the terminal summary.
"""
import json
import math
import shutil

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from properties import PROFILE

from routerrec.evaluation.report import write_report

floats = st.floats(allow_nan=True, allow_infinity=True)
# any code point, lone surrogates (a name from a Python caller) and line ends made likely
any_text = st.text(st.characters(exclude_categories=()) | st.sampled_from("\ud800\udfff–\x00\r\n"),
                   max_size=40)
numpy_scalars = (floats.map(np.float64) | st.floats(width=32).map(np.float32)
                 | st.integers(-2**63, 2**63 - 1).map(np.int64)
                 | st.integers(0, 255).map(np.uint8) | st.booleans().map(np.bool_))
numpy_arrays = hnp.arrays(st.sampled_from(["<f8", "<f4", "<i8", "|b1"]),  # NaN and inf too
                          hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
leaves = (st.none() | st.booleans() | st.integers() | floats | any_text
          | numpy_scalars | numpy_arrays)
keys = st.text(max_size=6) | st.integers(-5, 5).map(np.int64)
reports = st.recursive(
    leaves,
    lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner)
                   | st.dictionaries(keys, inner, max_size=4)),
    max_leaves=25)


def expected(value):
    """What strict JSON can say of ``value``: numpy as Python, NaN and ±inf as None, keys as
    text (the oracle of the property, written from the JSON rules, not from the writer)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k.item() if isinstance(k, np.generic) else k): expected(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [expected(v) for v in value]
    return value


def refuse_constant(name):
    raise AssertionError(f"report.json holds {name}, which strict JSON does not allow")


@PROFILE
@given(report=st.dictionaries(st.text(max_size=6), reports, max_size=5),
       markdown=any_text)
def test_reports_are_strict_json_that_round_trips(tmp_path, generated_cases, report, markdown):
    generated_cases["reports"] += 1
    out = tmp_path / "report"
    shutil.rmtree(out, ignore_errors=True)
    files = write_report(out, report, markdown, [])
    text = files["json"].read_text(encoding="utf-8")
    assert json.loads(text, parse_constant=refuse_constant) == expected(report)
    assert files["markdown"].read_bytes() == markdown.encode("utf-8", "backslashreplace")
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]
