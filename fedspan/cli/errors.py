"""How the command line reports failures: one line and an exit code, a traceback only with --debug."""

from __future__ import annotations

from typing import Any, Callable, Optional

import typer

DEBUG = {"on": False}
_ORIGINAL_FORMATWARNING: dict[str, Callable[..., str]] = {}  # warnings.formatwarning before main() replaced it


def set_debug(ctx: typer.Context, param: typer.CallbackParam, value: bool) -> bool:
    """Eager callback of ``--debug``."""
    DEBUG["on"] = DEBUG["on"] or bool(value)
    return value


def error_types() -> tuple[type[BaseException], ...]:
    """The error types that are the user's to fix: printed as one line, never as a traceback."""
    from fedspan.errors import FedSpanError
    from optimization.errors import OptimizationError
    from orbits.errors import OrbitsError

    return (FedSpanError, OptimizationError, OrbitsError, OSError, ValueError)


def one_line_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                     line: Optional[str] = None) -> str:
    """Warnings as ``warning: message`` (no source line) unless --debug."""
    if DEBUG["on"]:
        return _ORIGINAL_FORMATWARNING["f"](message, category, filename, lineno, line)
    return f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}\n"


def usage_line(exc: Any) -> str:
    """A usage error (typer's own click) as one line: the message and where to get help."""
    text = " ".join(exc.format_message().split())
    path = getattr(getattr(exc, "ctx", None), "command_path", None)
    return f"error: {text} (see '{path} --help')" if path else f"error: {text}"


def install_warning_format(formatwarning: Callable[..., str]) -> None:
    """Remember the original warning formatter (for --debug) while ``one_line_warning`` is in place."""
    _ORIGINAL_FORMATWARNING["f"] = formatwarning
