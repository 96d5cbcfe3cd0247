"""The `fedspan` command line: constellations, plans, training runs and comparisons.

Every command accepts ``--config FILE.toml`` (settings from a file; the command line wins) and
``--debug`` (show the full traceback instead of a one-line error). The package is split by job:
``app`` (the typer app and ``main``), ``options`` (options generated from ``fedspan.config``),
``errors`` (one-line failures), ``outputs`` (files, summaries, figures) and one module per
command group (``constellation``, ``plan``, ``train``).
"""

from fedspan.cli import constellation, plan, train  # noqa: F401  (registers the commands)
from fedspan.cli.app import app, main
from fedspan.cli.outputs import run_summaries as _run_summaries  # noqa: F401  (used by tests)

__all__ = ["app", "main"]
