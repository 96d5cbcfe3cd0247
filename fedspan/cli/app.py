"""The `fedspan` typer app, its entry point ``main`` and the command classes all commands share."""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from fedspan.cli.errors import DEBUG, error_types, install_warning_format, one_line_warning, usage_line


def _label(params: list[Any], ctx: Any) -> list[Any]:
    """Help labels: flags show none (not ``<bool>``), registry choices show their names."""
    from fedspan.cli.options import CHOICES

    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        elif param.name in CHOICES and param.metavar is None and ctx.meta.get(_HELP):
            # Only help shows the names: listing them imports the registries (torch, scikit-learn: seconds),
            # which a usage error must not wait for.
            param.metavar = "[" + "|".join(CHOICES[param.name].names()) + "]"
    return params


_HELP = "fedspan.help"  # ctx.meta key: help is being written


class Command(TyperCommand):
    """A command whose help labels are conventional (see :func:`_label`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _label(super().get_params(ctx), ctx)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from fedspan.cli.helpfmt import compact_help  # names whole below 120 columns

        ctx.meta[_HELP] = True
        text = compact_help(self, ctx)
        if text is None:
            return super().format_help(ctx, formatter)
        formatter.write(text)


class Group(TyperGroup):
    """A command group whose help labels are conventional (see :func:`_label`).

    Interrupts that escape a command (start-up, option parsing, a phase without its own report) leave
    as :class:`fedspan.interrupts.Stopped`: typer would turn them into a silent ``Exit(130)``, even
    for SIGTERM. An ``EOFError`` (a truncated file some library read) is a failure, not Ctrl-D, and
    leaves as an error rather than as typer's "Aborted".
    """

    def get_params(self, ctx: Any) -> list[Any]:
        return _label(super().get_params(ctx), ctx)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        return _guarded(super().make_context, *args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        return _guarded(super().invoke, ctx)


def _guarded(call: Any, *args: Any, **kwargs: Any) -> Any:
    from fedspan.errors import FedSpanError
    from fedspan.interrupts import Stopped

    try:
        return call(*args, **kwargs)
    except KeyboardInterrupt as exc:
        raise Stopped(exc) from None
    except EOFError as exc:
        raise FedSpanError(f"a file ended unexpectedly{f' ({exc})' if str(exc) else ''}") from None


app = typer.Typer(
    help="Fed-Span: federated learning over LEO satellite constellations with spanning-tree "
         "aggregation planned by geometric programming.",
    cls=Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
constellation_app = typer.Typer(help="Generate and inspect constellations (TLE files).", cls=Group,
                                no_args_is_help=True)
app.add_typer(constellation_app, name="constellation")


def _print_version(value: bool) -> None:
    """Eager `--version`: print the package version and stop."""
    if value:
        from fedspan import __version__

        typer.echo(f"fedspan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """Fed-Span: federated learning over LEO satellite constellations."""


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the `fedspan` console script: every failure is one line and a non-zero exit code.

    Exit codes: 0 success, 1 bad input or a failed run, 2 bad usage, 130 Ctrl-C, 143 SIGTERM.
    """
    import warnings

    from fedspan.interrupts import handle_sigterm, restore_sigterm

    formatwarning, previous = warnings.formatwarning, handle_sigterm()
    install_warning_format(formatwarning)
    warnings.formatwarning = one_line_warning  # type: ignore[assignment]
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _forgiving(sys.stdout, 1), _forgiving(sys.stderr, 2)
    try:
        code = _main(argv)
    finally:  # in-process callers (tests, notebooks) get their handlers back
        warnings.formatwarning = formatwarning
        restore_sigterm(previous)
        sys.stdout, sys.stderr = streams
    if code:
        sys.exit(code)


class _Forgiving:
    """A text stream that a closed or broken reader cannot stop the run through.

    ``fedspan run ... | head -c 1`` closes the pipe after one byte: the next progress line would
    raise ``BrokenPipeError`` (and typer would exit 1 silently) in the middle of the run. From the
    first broken write on, output goes to ``os.devnull`` instead, and so does the file descriptor,
    so the interpreter's final flush stays quiet too. The run goes on and writes all its files.
    """

    def __init__(self, stream: Any, fd: int) -> None:
        self._stream, self._fd, self._broken = stream, fd, False

    def _divert(self) -> None:
        import os

        self._broken = True
        self._stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        try:
            os.dup2(self._stream.fileno(), self._fd)
        except OSError:
            pass

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (BrokenPipeError, ValueError, OSError):  # EPIPE, EBADF, or a closed file object
            self._divert()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            self._divert()

    def isatty(self) -> bool:
        try:
            return not self._broken and self._stream.isatty()
        except (ValueError, OSError):
            return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _forgiving(stream: Any, fd: int) -> Any:
    """``stream`` made safe to write to; a missing one (the shell closed it: ``>&-``) becomes os.devnull."""
    import os

    if isinstance(stream, _Forgiving):
        return stream
    if stream is None:
        stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    return _Forgiving(stream, fd)


def _main(argv: Optional[list[str]]) -> int:
    """Run the command; return its exit code after printing any failure as one line."""
    from fedspan.interrupts import Stopped, exit_code, what

    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="fedspan", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.TyperException as exc:  # usage errors: bad option values, unknown options, missing files
        print(usage_line(exc), file=sys.stderr)
        return int(getattr(exc, "exit_code", 2) or 2)
    except (typer.Abort, KeyboardInterrupt, Stopped) as exc:  # phases that report what they kept exit on their own
        cause = exc.__cause__ if isinstance(exc, typer.Abort) and exc.__cause__ is not None else exc
        cause = cause.interrupt if isinstance(cause, Stopped) else cause
        print(f"{what(cause)}: stopped before any round was completed; nothing to resume", file=sys.stderr)
        return exit_code(cause)
    except (MemoryError, RuntimeError) as exc:  # numpy's MemoryError, torch's allocator RuntimeError
        if DEBUG["on"] or not (isinstance(exc, MemoryError) or "allocate memory" in str(exc)):
            raise
        print("error: out of memory: the command needs more memory than this process may use (RAM or ulimit -v); "
              "use fewer satellites, rounds or samples, or allow more memory", file=sys.stderr)
        return 1
    except error_types() as exc:
        if DEBUG["on"]:
            raise
        print(f"error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0  # typer.Exit(n) under standalone_mode=False is returned
