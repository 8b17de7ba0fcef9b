"""``fcabench`` command line: a thin layer that reads options and calls library functions.

Each sub-command lives in its own module; this one only assembles them and turns
:class:`~fcabench.errors.FcabenchError` into one clear line and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from fcabench.errors import FcabenchError

app = typer.Typer(
    name="fcabench",
    help="What a token-reduction method for BERT really buys: exact FLOPs, accuracy, speed and memory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from fcabench.cli import plot, profile, runs, sweep

    app.command("profile", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
        profile.profile_command
    )
    app.add_typer(runs.app, name="runs")
    app.add_typer(plot.app, name="plot")
    app.command("sweep")(sweep.sweep_command)
    from fcabench.cli import evaluate, tasks, train

    app.add_typer(tasks.app, name="tasks")
    app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(train.train_command)
    app.command("evaluate")(evaluate.evaluate_command)


_register()


def _quiet_libraries() -> None:
    """A CLI user gets fcabench's one error line, not the hub client's retries and warnings."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as transformers_logging

    hub_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()


def main() -> None:
    _quiet_libraries()
    try:
        app(standalone_mode=False)
    except FcabenchError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except Exception as click_error:  # click's usage errors carry their own exit code and message
        import click

        if isinstance(click_error, click.ClickException):
            click_error.show()
            sys.exit(click_error.exit_code)
        raise
