"""The `selflearn` command line: simulate traffic, inspect logs, run the self-learning demo.

This module holds the Typer `app`, the `--version` option and the registration of every command;
the commands live in modules by what they do (`data`, `loop`, `nightly`, `domain`, with shared
helpers in `common`) and in the learners' own packages (fpi, labels, serve, teach, context, privacy)."""

from __future__ import annotations

from typing import Annotated

import typer

from selflearn.cli import data, domain, loop, nightly
from selflearn.cli.common import LEARNERS, _bench_learners, _learner_options, _parse_seeds

__all__ = ["LEARNERS", "_bench_learners", "_learner_options", "_parse_seeds", "app"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="selflearn: a conversational assistant that learns from its own users.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"selflearn {version('selflearn')}")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            typer.echo("selflearn (not installed)")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """selflearn: a conversational assistant that learns from its own users."""


for _module in (data, loop, nightly, domain):
    _module.register(app)

# `selflearn --help` lists commands in the order they were added; the modules add theirs by job, so
# put them back in the order the single-file CLI always listed them.
_HELP_ORDER = (
    "simulate",
    "stats",
    "ingest",
    "demo",
    "mine",
    "nightly",
    "versions",
    "rollback",
    "disable",
    "bench",
    "recognize",
)
app.registered_commands.sort(key=lambda c: _HELP_ORDER.index(c.name or getattr(c.callback, "__name__", "")))

from selflearn.fpi.cli import register as _register_fpi  # noqa: E402

_register_fpi(app)
from selflearn.cli.label import register as _register_labels  # noqa: E402

_register_labels(app)
from selflearn.serve.cli import register as _register_serve  # noqa: E402

_register_serve(app)
from selflearn.teach.cli import register as _register_teach  # noqa: E402

_register_teach(app)
from selflearn.cli.context import register as _register_context  # noqa: E402

_register_context(app)
from selflearn.privacy.cli import register as _register_privacy  # noqa: E402

_register_privacy(app)
from selflearn.cli.artifacts import artifacts_app  # noqa: E402

app.add_typer(artifacts_app, name="artifacts")


if __name__ == "__main__":
    app()
