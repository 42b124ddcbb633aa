"""`selflearn domain export|show`: the deployment's domain (intents, slots, protected intents,
vocabularies) as a file the learners read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from selflearn.cli.common import console


def register(app: typer.Typer) -> None:
    """Add the `domain` sub-app to the CLI."""
    app.add_typer(domain_app, name="domain")


domain_app = typer.Typer(
    help="The deployment's domain as a file: intents and their slots, protected intents, device "
    "types and vocabularies. The learners read WORKSPACE/domain.json."
)


@domain_app.command("export")
def domain_export(
    out: Annotated[Path, typer.Argument(help="File to write (a directory gets domain.json).")],
    slurp: Annotated[
        Path | None, typer.Option(help="Derive the domain from a SLURP file instead of the simulated home.")
    ] = None,
) -> None:
    """Write a domain file: the simulated home's (the default) or a SLURP file's intents."""
    from selflearn.lexicon.io import save_domain

    if slurp is not None:
        from selflearn.corpora.slurp import read_slurp, slurp_domain

        domain = slurp_domain(read_slurp(slurp).records, name=f"slurp:{slurp.name}")
    else:
        from selflearn.home.domain import simulated_domain

        domain = simulated_domain()
    path = save_domain(domain, out)
    console.print(f"wrote {path}: {len(domain.intents)} intents, {len(domain.protected)} protected")


@domain_app.command("show")
def domain_show(
    path: Annotated[Path, typer.Argument(help="A domain file, or a workspace holding one.")],
) -> None:
    """Check a domain file and summarise it (exit 2 naming the field when it is broken)."""
    from selflearn.contracts.domain import DomainError
    from selflearn.lexicon.io import load_domain

    try:
        domain = load_domain(path)
    except (DomainError, OSError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    table = Table(title=f"domain {domain.name} ({domain.digest[:12]})", box=box.SIMPLE)
    table.add_column("part")
    table.add_column("count", justify="right")
    table.add_column("examples", overflow="fold")
    rows = [
        ("intents", [i.name for i in domain.intents]),
        ("protected", sorted(domain.protected)),
        ("device types", list(domain.device_types)),
        ("colours", list(domain.colors)),
        ("media items", [m.title for m in domain.media]),
        ("teams", [t.name for t in domain.teams]),
        ("cuisines", list(domain.cuisines)),
    ]
    for part, items in rows:
        table.add_row(part, f"{len(items):,}", ", ".join(items[:6]) + (", ..." if len(items) > 6 else ""))
    console.print(table)
