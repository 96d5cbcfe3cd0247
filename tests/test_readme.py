"""The README's set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ci_commands() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [ln.strip() for ln in lines
            if ln.strip().startswith(("pip install", "python -m pytest"))]


def test_ci_runs_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = _ci_commands()
    assert len(commands) == 2, commands
    for command in commands:
        assert command in readme, f"README.md does not show the CI command: {command}"


def test_readme_pins_the_cpu_torch_wheel() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"torch==2\.13\.0"', pyproject)


def test_readme_library_example_runs() -> None:
    """The README's Python example is executed as written."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "README.md has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    plan = namespace["plan"]
    assert (plan.parent < 0).sum() == 1
    assert plan.latency_s > 0 and plan.energy_j > 0

