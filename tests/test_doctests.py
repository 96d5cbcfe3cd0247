"""The `>>>` examples in the public docstrings of `orbits`, `optimization` (subpackages included) and
`fedspan.clock`, `fedspan.fileio`, `fedspan.landmask` run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import optimization
import orbits


def _modules() -> list[str]:
    names = []
    for package in (orbits, optimization):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):  # subpackages too
            names.append(info.name)
    return sorted(names) + ["fedspan.clock", "fedspan.fileio", "fedspan.landmask"]


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def test_examples_exist_for_the_main_entry_points() -> None:
    finder = doctest.DocTestFinder()
    for name in ("optimization.planner", "optimization.resources", "optimization.evaluate"):
        tests = finder.find(importlib.import_module(name))
        assert sum(len(t.examples) for t in tests) > 0, name
