"""Generate the README results section from benchmarks/results/*.json (never typed by hand).

Run: python benchmarks/make_table.py [--results benchmarks/out] [--publish [--readme README.md]]
Writes ``<results>/table.md`` (by default from the scratch folder ``benchmarks/out/`` that ``run_all.py`` writes).
``--publish`` reads the committed ``benchmarks/results/`` instead and replaces the text between
``<!-- results:start -->`` and ``<!-- results:end -->`` in the README (the repository's by default; nothing else in
it changes); it refuses results from a ``--quick`` run, so a smoke run never reaches the README.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from evidence import evidence_lines

from fedspan.fileio import read_or_raise

START, END = "<!-- results:start -->", "<!-- results:end -->"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCRATCH_DIR = Path(__file__).resolve().parent / "out"
README = Path(__file__).resolve().parents[1] / "README.md"
#: A results file holds curves of a few hundred rounds per run: far below this.
RESULTS_MAX_BYTES = 256 << 20
COLUMNS = (("time_to_target_s", "time to target [s]", 2), ("energy_to_target_j", "energy to target [J]", 2),
           ("rounds_to_target", "rounds to target", 1), ("mean_latency_s", "round latency [s]", 3),
           ("energy_per_round_j", "energy / round [J]", 2), ("final_accuracy", "last accuracy", 3))
#: Row order in a scenario's table: the competitors, then the rows that explain them.
ROLE_ORDER = {"main": 0, "ablation": 1, "battery": 2, "grid": 3}
RATIO_METRICS = (("time_to_target_s", "time"), ("energy_to_target_j", "energy"), ("mean_latency_s", "latency"),
                 ("final_accuracy", "accuracy"))


class TableError(ValueError):
    """A results file that is missing or does not have the expected shape."""


def _num(value: float, digits: int) -> str:
    if abs(value) < 1e-9:  # float noise of identical seeds, not a spread
        return f"{0:.{digits}f}"
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}g}"


def cell(stat: dict[str, Any], digits: int, rounds: int | None = None) -> str:
    """``mean ± std`` over seeds, ``not reached`` (in ``rounds`` rounds) when no seed got there, ``(k/n)`` when only some did."""
    if stat["n"] == 0:
        return "not reached" + (f" in {rounds} rounds" if rounds else "")
    text = _num(stat["mean"], digits)
    if stat["of"] > 1:
        text += f" ± {_num(stat['std'], digits)}"
    if stat["n"] < stat["of"]:
        text += f" ({stat['n']}/{stat['of']} seeds)"
    return text


def ratio_cell(ratios: dict[str, float | None]) -> str:
    """Fed-Span-over-method ratios; values < 1 favour Fed-Span except for accuracy."""
    parts = []
    for metric, short in RATIO_METRICS:
        value = ratios.get(metric)
        parts.append(f"{short} {'—' if value is None else f'{value:.2g}'}")
    return ", ".join(parts)


def scenario_table(name: str, block: dict[str, Any]) -> list[str]:
    """Markdown lines for one scenario: a row per method, Fed-Span's ratios in the last column."""
    summary, spec = block["summary"], block["spec"]
    ref = summary["reference"]
    schedule = spec.get("schedule", "back-to-back")
    timing = "back to back" if schedule == "back-to-back" else f"a round every {spec.get('round_interval_s', 0):g} s"
    central = summary.get("centralised_accuracy")
    head = (f"#### {name}\n\n{spec['constellation']} · {spec['dataset']} · {spec.get('model', 'mlp')} · "
            f"{spec['partition']}{' (alpha ' + str(spec['alpha']) + ')' if spec['partition'] != 'iid' else ''} · "
            f"lr {spec.get('lr', 0.05):g} · {timing} · {spec['rounds']} rounds · seeds {', '.join(map(str, spec['seeds']))} · target accuracy "
            f"{summary['target_accuracy']:.3f}" + (f" (90 % of centralised {central:.3f})" if central else ""))
    if spec.get("note"):
        head += f" · {spec['note']}"
    if spec.get("left_out"):
        head += f" · left out: {spec['left_out']}"
    lines = [head, ""]
    has_ref = ref in summary["methods"]
    header = ["method", *(title for _, title, _ in COLUMNS)] + ([f"{ref} ÷ method"] if has_ref else [])
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ordered = sorted(summary["methods"].items(),
                     key=lambda kv: (ROLE_ORDER.get(kv[1].get("role", "main"), 1), kv[0] != ref))
    for label, stats in ordered:
        marks = [m for m, best in summary["best"].items() if label in best]
        row = [f"**{label}**" if label == ref else (f"_{label}_" if stats.get("ablation") else label)]
        for metric, _, digits in COLUMNS:
            row.append(cell(stats[metric], digits, stats.get("rounds")) + (" ★" if metric in marks else ""))
        if has_ref:
            row.append("—" if label == ref else ratio_cell(summary["ratios"].get(label, {})))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


def speed_lines(speed: dict[str, Any] | None) -> list[str]:
    """Table of the layer benchmarks' in-run ratios."""
    if not speed:
        return ["(no speed report: run `python benchmarks/run_all.py` without `--no-speed`)", ""]
    lines = ["| benchmark | flags | status | ratio | measured |", "|---|---|---|---|---|"]
    for bench in speed["benchmarks"]:
        flags = " ".join(bench.get("flags", [])) or "(full)"
        ratios = bench.get("ratios") or [{"section": "", "line": bench.get("error", "no ratio printed"), "ratio": None}]
        for r in ratios:
            value = "—" if r["ratio"] is None else f"{r['ratio']:,.1f}x"
            where = f"{r['section']}: " if r["section"] else ""
            lines.append(f"| {bench['script']} | {flags} | {bench['status']} | {value} | {where}{r['line']} |")
    return lines + [""]


def render(results: dict[str, Any], speed: dict[str, Any] | None, folder: str = "benchmarks/results") -> str:
    """The whole generated section as markdown; ``folder`` is where the results and figures lie."""
    d = results["definitions"]
    out = [f"_Generated by `benchmarks/make_table.py` from `{folder}/results.json` "
           f"({results['mode']} run, {results['wall_s'] / 60:.1f} min on {results['cores']} cores, "
           f"{results['created']}). Do not edit by hand._", "",
           f"**How to read it.** {d['target']} {d['time']} {d['cadence']} {d.get('bound', '')} Values are mean ± "
           "sample std over the seeds listed; ★ marks the best non-ablation method per column; _italic_ rows are "
           "ablations; the last column is Fed-Span K=1 divided by the "
           "method (time, energy, latency: < 1 means Fed-Span is better; accuracy: > 1 means Fed-Span is better; "
           "— where a side did not reach the target in every seed).", ""]
    for rerun in results.get("reruns", []):
        out += [f"_Re-run after the suite: {rerun['what']} ({rerun['why']}; {rerun['runs']} runs, "
                f"{rerun['wall_s'] / 60:.1f} min), merged into these results; the other runs are unaffected by "
                "that change._", ""]
    out += evidence_lines(results)
    for name, block in results["scenarios"].items():
        out += scenario_table(name, block)
    for skip in results.get("skipped", []):
        out.append(f"- skipped **{skip['scenario']}**: {skip['reason']}")
    for fail in results.get("failures", []):
        out.append(f"- failed run {fail['job']}: {fail['error']}")
    out.append("")
    out += [f"**Figures** (in `{folder}/`): " + ", ".join(f"`{f}`" for f in results.get("figures", [])), ""]
    if results.get("sizes"):
        out += ["**Planner time vs constellation size** (one `optimization.solve`, default options):", "",
                "| satellites | candidate links | planner [s] | objective ÷ distance-MST warm start | status |",
                "|---|---|---|---|---|"]
        for r in sorted(results["sizes"], key=lambda r: r["satellites"]):
            out.append(f"| {r['satellites']} | {r['candidate_edges']} | {r['planner_s']:.1f} | "
                       f"{r['objective_vs_warm_start']:.3f} | {r['status']} |")
        out.append("")
    out += ["**Speed of each layer** (in-run ratios printed by the layer benchmarks, gathered into "
            f"`{folder}/speed.json`):", ""] + speed_lines(speed)
    return "\n".join(out).rstrip() + "\n"


def load_json(path: Path) -> dict[str, Any]:
    """Read one results file; errors name the file."""
    data = read_or_raise(path, RESULTS_MAX_BYTES, TableError, "results file",
                         missing="cannot read results file (not found)")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise TableError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise TableError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def replace_section(text: str, section: str, source: str = "README.md") -> str:
    """``text`` with everything between the results markers replaced by ``section``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise TableError(f"{source}: markers {START} ... {END} not found (in that order)")
    return text[:start + len(START)] + "\n" + section + text[end:]


def _shown(folder: Path) -> str:
    """``folder`` as the README shows it: relative to the repository when inside it."""
    try:
        return folder.resolve().relative_to(README.parent).as_posix()
    except ValueError:
        return str(folder)


def build(results_dir: Path, readme: Path | None = None) -> Path:
    """Write ``table.md`` (and the README section when asked); returns the table path."""
    results = load_json(results_dir / "results.json")
    for key in ("scenarios", "definitions", "mode"):
        if key not in results:
            raise TableError(f"{results_dir / 'results.json'}: missing key '{key}'")
    speed_path = results_dir / "speed.json"
    speed = load_json(speed_path) if speed_path.is_file() else None
    if readme is not None and results["mode"] == "quick":
        raise TableError(f"{results_dir / 'results.json'}: a --quick smoke run; the README only takes a full run's results")
    section = render(results, speed, _shown(results_dir))
    table = results_dir / "table.md"
    table.write_text(section, encoding="utf-8")
    if readme is not None:
        try:
            text = readme.read_text(encoding="utf-8")
        except OSError as exc:
            raise TableError(f"{readme}: cannot read ({exc.strerror})") from None
        readme.write_text(replace_section(text, section, str(readme)), encoding="utf-8")
    return table


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=None,
                        help="folder holding results.json (default: benchmarks/out/, or benchmarks/results/ with --publish)")
    parser.add_argument("--publish", action="store_true",
                        help="also replace the README's results section (refused for a --quick run's results)")
    parser.add_argument("--readme", type=Path, default=README, help="README whose marked section --publish replaces")
    parser.add_argument("--no-readme", action="store_true", help="only write table.md (the default without --publish)")
    args = parser.parse_args(argv)
    readme = args.readme if args.publish and not args.no_readme else None
    if args.results is None:
        args.results = RESULTS_DIR if args.publish else SCRATCH_DIR
    try:
        path = build(args.results, readme)
    except TableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}" + (f" and the results section of {readme}" if readme else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
