"""The ``edgecompress`` command: a thin click group over the library.

One error boundary (``main``) turns a ``CompressError`` into a red ``Error: ...`` line plus
its hint and exit code 1; usage errors exit 2; ``--debug`` shows the traceback. Commands
import TensorFlow inside their bodies, so ``--help`` stays fast.
"""

from __future__ import annotations

import os
import sys

import click

from compress import __version__

_STATE = {"debug": False}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgecompress")
@click.option("--debug", is_flag=True, help="Show full tracebacks and converter logs.")
def cli(debug: bool) -> None:
    """Compress trained Keras models and benchmark them as TFLite on edge devices.

    \b
    Example:
      edgecompress demo --out demo-run
      edgecompress run recipe.yaml --model model.keras --data fashion-mnist --out run1
    """
    _STATE["debug"] = debug
    if debug:
        os.environ["EDGECOMPRESS_DEBUG"] = "1"


def _register() -> None:
    from compress.cli import (bench_cmd, bundle_cmd, compare_cmd, convert, demo, eval_cmd,
                              inspect_cmd, report_cmd, run, targets_cmd)

    for module in (demo, run, convert, eval_cmd, inspect_cmd, targets_cmd, bundle_cmd, bench_cmd,
                   report_cmd, compare_cmd):
        cli.add_command(module.command)


_register()


def _stopped(what: str) -> str:
    """The one line printed when a run is interrupted or terminated."""
    text = f"{what}: the output folder was not written"
    ckpt = sys.modules.get("compress.checkpoint")  # imported only by runs that train
    kept = ckpt.interrupted_message() if ckpt is not None else None
    return f"{text}; {kept}." if kept else f"{text}."


class _Terminated(BaseException):
    """Raised by the SIGTERM handler so staged outputs are cleaned up like on Ctrl-C."""


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise _Terminated()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point with the error boundary."""
    import signal

    from compress.errors import CompressError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
        # Ctrl-C raises KeyboardInterrupt even when started from a shell that set SIGINT to
        # "ignore" (background jobs of non-interactive shells): cleanup must still happen.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread (embedded use): keep the defaults
        pass
    try:
        cli.main(args=argv, prog_name="edgecompress", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            click.secho(_stopped("Interrupted"), fg="red", err=True)
            sys.exit(130)
        click.secho("Aborted.", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        if debug:
            raise
        click.secho(_stopped("Interrupted"), fg="red", err=True)
        sys.exit(130)
    except _Terminated:
        click.secho(_stopped("Terminated"), fg="red", err=True)
        sys.exit(143)
    except CompressError as exc:
        if debug:
            raise
        click.secho(f"Error: {exc.message}", fg="red", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: still no traceback unless --debug
        if debug:
            raise
        click.secho(f"Internal error: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                    fg="red", err=True)
        click.echo("  hint: run again with --debug for the traceback, and please report it",
                   err=True)
        sys.exit(1)
