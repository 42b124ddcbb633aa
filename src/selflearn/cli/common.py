"""Helpers the command modules share: one console, the progress bar, the option help texts and
parsers (seeds, learners, sessions) and the per-night printer, so `demo`, `bench`, `simulate` and the
nightly commands read and print alike without importing each other."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _load_detector(workspace: Any, name: str = "auto") -> Any:
    """The rephrase detector a command reading `workspace` uses (`--detector`), said aloud; a
    name the workspace cannot serve is a usage error naming the option."""
    from selflearn.feedback.rephrase.registry import workspace_detector

    try:
        det, which = workspace_detector(workspace, name)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--detector") from exc
    console.print(f"rephrase detector: {which}")
    return det


_SEEDS_CONTEXT = {"allow_extra_args": True}
LEARNERS = ("markov", "online", "nlu")
_LEARNERS_HELP = (
    "Learners that run each night, comma-separated: markov (precomputed rewrites), online (online "
    "rewrite layers; --online picks which, default global+personal), nlu (the understanding step). "
    "Default: markov, and online when --online is not off."
)


def _bench_learners(options: dict[str, Any]) -> dict[str, Any]:
    """`_learner_options` as `BenchConfig` fields (the bench passes the nlu step as a night option)."""
    nightly = dict(options.get("nightly") or {})
    if options.get("nlu") is not None:
        nightly["nlu"] = options["nlu"]
    return {"online": options["online"], "nightly": nightly}


def _learner_options(learners: str | None, online: str) -> dict[str, Any]:
    """`LoopConfig` fields for a `--learners` list (None: markov, plus online per --online)."""
    if learners is None:
        return {"online": online}
    chosen = [x.strip() for x in learners.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in LEARNERS]
    if unknown or not chosen:
        raise typer.BadParameter(
            f"unknown learner(s) {unknown}; choose from {', '.join(LEARNERS)}", param_hint="--learners"
        )
    layers = "off" if "online" not in chosen else (online if online != "off" else "global+personal")
    return {
        "online": layers,
        "nlu": {} if "nlu" in chosen else None,
        "nightly": {} if "markov" in chosen else {"markov": False},
    }


_MIN_USERS_HELP = "Distinct principals a rewrite needs (households, else users)."
_SEEDS_HELP = "Seeds to run and pool (mean with a 95% interval): --seeds 0 1 2 3 4, or 0,1,2 or 0-4."
_PARALLEL_HELP = "With several --seeds: how many seeds run at once, each in its own process (same results)."


def _parse_seeds(seeds: list[str] | None, extra: list[str], seed: int) -> list[int]:
    """`--seeds 0 1 2` (the values after the first arrive as extra arguments), `--seeds 0,1,2`,
    `--seeds 0-4` or repeated `--seeds`; without it, `--seed` alone."""
    if not seeds:
        if extra:
            raise typer.BadParameter(f"unexpected arguments: {' '.join(extra)}")
        return [seed]
    out: list[int] = []
    for tok in [*seeds, *extra]:
        for part in tok.replace(",", " ").split():
            try:
                if "-" in part[1:]:
                    lo, hi = part.split("-", 1)
                    out.extend(range(int(lo), int(hi) + 1))
                else:
                    out.append(int(part))
            except ValueError as exc:
                msg = f"--seeds takes integers, not {part!r}"
                raise typer.BadParameter(msg, param_hint="--seeds") from exc
    if len(set(out)) != len(out):
        raise typer.BadParameter(f"--seeds repeats a seed: {out}", param_hint="--seeds")
    return out


def _day_printer(table: Table, seeds: list[int]) -> Any:
    """`on_day` for demo and bench: a line per night and a row in `table`, both arms side by side."""

    def on_day(m: Any, info: dict[str, Any]) -> None:
        ctl = m.extra.get("control_defect_rate")
        table.add_row(
            *([str(info.get("seed", ""))] if len(seeds) > 1 else []),
            str(m.day),
            f"{m.request_turns:,}",
            f"{m.defect_rate:.1%}",
            f"{ctl:.1%}" if ctl is not None else "-",
            f"{m.extra.get('first_attempt_defect_rate', 0.0):.1%}",
            f"{m.extra.get('control_first_attempt_defect_rate', 0.0):.1%}" if ctl is not None else "-",
            f"{m.rewrites_published:,}",
            f"{m.rewrites_fired:,}",
            f"{m.wins:,}",
            f"{m.losses:,}",
        )
        seed_tag = f"seed {info['seed']} " if len(seeds) > 1 and "seed" in info else ""
        vs = f" (control arm {ctl:.1%})" if ctl is not None else ""
        console.print(
            f"{seed_tag}day {m.day}: defect rate {m.defect_rate:.1%}{vs}, {m.rewrites_fired} rewrites fired "
            f"({m.wins} wins / {m.losses} losses), {m.extra.get('rewrites_mined_tonight', 0)} "
            "rewrites mined tonight"
        )

    return on_day


def _sessions_flag(sessions: str) -> bool:
    if sessions not in ("classic", "realistic"):
        raise typer.BadParameter(f"--sessions must be classic or realistic, not {sessions!r}")
    return sessions == "realistic"
