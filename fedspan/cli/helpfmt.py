"""Command help that reads at 80 columns: option names whole on their own line, help wrapped under them.

Rich's four-column option table squeezes a 60-option command into a 22-character help column and cuts long
names ("--round-interva…") on a narrow terminal. Below :data:`WIDE` columns, :func:`compact_help` writes the
options grouped by panel instead, in the layout of ``man`` pages and argparse: the names, aliases and value
label on one line, the help (with its default) wrapped beneath, indented.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from typing import Any

#: At this many columns or more the rich table has room; below it the compact layout is used.
WIDE = 120


def terminal_width() -> int:
    """Columns of the terminal (``COLUMNS`` wins, as for rich), 80 when unknown."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return shutil.get_terminal_size((80, 24)).columns


def _metavar(param: Any, ctx: Any) -> str:
    """The value label the rich table shows (``<int>``, ``[a|b]``, ``PATH``); none for a flag."""
    if getattr(param, "is_flag", False):
        return ""
    if param.metavar is not None:
        return param.metavar
    shown = getattr(param, "display_type_rich", None)
    return (shown(ctx=ctx) or "") if shown is not None else ""


def _names(param: Any, ctx: Any) -> str:
    """``--name`` with its short flag, its ``--no-`` form and its aliases: never cut."""
    if getattr(param, "param_type_name", "") == "argument":
        return str(getattr(param, "display_name_raw", None) or param.name).upper()
    opts = sorted(param.opts, key=lambda o: (o.startswith("--"), o))  # -o before --output-dir
    longs = [o for o in opts if o.startswith("--")]
    shorts = [o for o in opts if not o.startswith("--")]
    # The field's own spelling first (--output-dir), then older spellings it still accepts.
    main = next((o for o in longs if o.lstrip("-").replace("-", "_") == param.name), longs[0] if longs else opts[0])
    text = ", ".join(shorts + [main])
    if param.secondary_opts:
        text += " / " + ", ".join(param.secondary_opts)
    label = _metavar(param, ctx)
    if label:
        text += f" {label}"
    others = [o for o in longs if o != main]
    if others:
        text += f"  (also {', '.join(others)})"
    return text


def _help(param: Any) -> str:
    """The option's help with its default, as the rich table shows it."""
    text = " ".join(str(param.help or "").split())
    if "[default" in text or getattr(param, "show_default", None) is False:
        return text
    if getattr(param, "is_flag", False):
        if param.secondary_opts:
            text += f" [default: {'on' if param.default else 'off'}]"
    elif getattr(param, "show_default", None) not in (None, True):  # a label given instead of the value
        text += f" [default: {param.show_default}]"
    elif param.default not in (None, "", (), []) and not callable(param.default):
        text += f" [default: {param.default}]"
    return text


def _paragraphs(doc: str, width: int) -> list[str]:
    """The command's docstring rewrapped to ``width``; indented lines (examples) keep their indent."""
    out: list[str] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            out.extend(textwrap.wrap(" ".join(para), width - 2, initial_indent="  ", subsequent_indent="  "))
            para.clear()

    for line in textwrap.dedent(doc).strip("\n").splitlines():
        if not line.strip():
            flush()
            out.append("")
        elif line.startswith((" ", "\t")):
            flush()
            out.extend(textwrap.wrap(line.strip(), width - 4, initial_indent="    ",
                                     subsequent_indent="        ", break_on_hyphens=False, break_long_words=False))
        else:
            para.append(line.strip())
    flush()
    return out


def compact_help(command: Any, ctx: Any, width: int | None = None) -> str | None:
    """The help of ``command`` laid out for ``width`` columns, or None when the terminal is wide enough for
    rich's table (:data:`WIDE`)."""
    width = width or terminal_width()
    if width >= WIDE:
        return None
    width = max(width, 40)
    pieces = command.collect_usage_pieces(ctx) if hasattr(command, "collect_usage_pieces") else ["[OPTIONS]"]
    lines = [f"Usage: {ctx.command_path} {' '.join(p.upper() for p in pieces)}", ""]
    if command.help:
        lines += _paragraphs(command.help, width) + [""]
    panels: dict[str, list[Any]] = {}
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False) or not getattr(param, "opts", None):
            continue
        default = "Arguments" if getattr(param, "param_type_name", "") == "argument" else "Options"
        panels.setdefault(getattr(param, "rich_help_panel", None) or default, []).append(param)
    for panel, params in panels.items():
        lines.append(f"{panel}:")
        for param in params:
            lines.append("  " + _names(param, ctx))
            lines += textwrap.wrap(_help(param), width - 6, initial_indent="      ", subsequent_indent="      ",
                                   break_on_hyphens=False) or []
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
