"""The ``xshot`` command line.

Each command group lives in its own module and registers itself on the app here, so that
adding a command touches one module. Heavy libraries (torch, transformers) are imported inside
the commands, keeping ``xshot data ...`` quick to start.
"""

from __future__ import annotations

import os
import sys

import typer

from xshot.errors import XshotError
from xshot.settings import apply_offline

app = typer.Typer(
    name="xshot",
    help="Few-shot cross-lingual transfer: DualCL vs prompt-based fine-tuning for NER and NLI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    """The option is declared for --help and parsing; main() reads it before the command runs."""


def _register() -> None:
    if app.registered_commands or app.registered_groups:
        return
    from xshot.cli import data, report, study, train

    for module in (data, train, study, report):
        module.register(app)


# glibc returns large freed blocks to the kernel and faults them back in on the next allocation; on
# virtual machines that page-faulting dominated training (AdamW steps 30x slower). Keeping freed memory
# in the heap must be set before the interpreter starts, hence the one-time re-exec below. It costs memory (a
# gemma3-270m prompt run: training 1.6-1.7x faster, peak 10.5 GB instead of 8.4 GB; docs/performance.md).
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736",
                 "MALLOC_TOP_PAD_": "1073741824"}


def _reexec_with_allocator_settings(argv: list[str]) -> None:
    if not sys.platform.startswith("linux") or os.environ.get("XSHOT_NO_REEXEC"):
        return
    from xshot.hardware import HEAVY_COMMANDS

    if not HEAVY_COMMANDS & set(argv) or all(k in os.environ for k in ALLOCATOR_ENV):
        return
    os.environ.update({k: os.environ.get(k, v) for k, v in ALLOCATOR_ENV.items()})
    os.execv(sys.executable, [sys.executable, "-m", "xshot", *argv])


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        apply_offline()  # before re-executing, so the child inherits it
    except XshotError as err:
        print(f"xshot: error: {err}", file=sys.stderr)
        return 2
    if argv is None:
        _reexec_with_allocator_settings(sys.argv[1:])
    _register()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        result = app(args=argv, standalone_mode=False)
    except XshotError as err:
        if debug:
            raise
        print(f"xshot: error: {err}", file=sys.stderr)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        print("xshot: interrupted", file=sys.stderr)
        return 130
    except typer.Exit as exit_:
        return exit_.exit_code
    except typer.TyperException as err:  # usage errors: missing option, bad value, unknown command
        if debug:
            raise
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        print(f"xshot: error: {message} (see --help)", file=sys.stderr)
        return getattr(err, "exit_code", 2) or 2
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
