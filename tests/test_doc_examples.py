"""The examples in the package's docstrings run and print what they say."""
import doctest

import pytest

import routerrec
import routerrec.data.load
import routerrec.data.records
import routerrec.util.validate


@pytest.mark.parametrize("module", [routerrec, routerrec.data.records, routerrec.data.load,
                                    routerrec.util.validate],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
