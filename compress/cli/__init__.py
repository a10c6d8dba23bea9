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


#: command name -> module under ``compress.cli`` holding its ``command``: a command module is
#: imported when that command (or ``--help``) needs it, not when the package loads.
COMMANDS = {"demo": "demo_cmd", "run": "run_cmd", "convert": "convert_cmd", "eval": "eval_cmd",
            "inspect": "inspect_cmd", "targets": "targets_cmd", "bundle": "bundle_cmd",
            "bench": "bench_cmd", "report": "report_cmd", "compare": "compare_cmd",
            "sensitivity": "sensitivity_cmd"}


class _Commands(click.Group):
    """The group's commands, found in ``COMMANDS`` and imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        import importlib

        return importlib.import_module(f"compress.cli.{module}").command


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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




def _stopped(what: str) -> str:
    """The one line printed when a run is interrupted or terminated."""
    text = f"{what}: the output folder was not written"
    ckpt = sys.modules.get("compress.run.checkpoint")  # imported only by runs that train
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
