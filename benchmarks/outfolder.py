"""Where a layer benchmark writes: the scratch folder ``benchmarks/out/`` (ignored by git), a folder of the user's
(``--out``), or, only with ``--publish``, the committed ``benchmarks/results/`` that the README quotes."""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def add_output_options(parser: argparse.ArgumentParser, files: str) -> None:
    """``--out DIR`` and ``--publish`` for a benchmark that writes ``files`` (named in the help)."""
    parser.add_argument("--out", type=Path, default=None, help=f"folder for {files} (default benchmarks/out/)")
    parser.add_argument("--publish", action="store_true", help="write benchmarks/results/ (the README's copy)")


def output_folder(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """The folder to write: never the committed one by accident (a smoke run would overwrite published numbers)."""
    if args.publish and args.out is not None:
        parser.error("--publish writes benchmarks/results/; drop --out")
    return REPO / "benchmarks" / ("results" if args.publish else "out") if args.out is None else args.out
