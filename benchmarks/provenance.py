"""Where a benchmark result came from: the commit, the command, when, on what.

Every benchmark writes `provenance(sys.argv)` under a top-level `provenance` key of its result
JSON (`with_provenance` puts it first). `benchmarks/report.py` reads it to decide whether a result
is older than the code it measures: a result whose recorded commit has later commits touching its
sources is stale, and so is one recorded from a dirty working tree only if those sources were
dirty (`dirty_paths`). Result files written before this existed have no `provenance` key and are
reported as such; nothing here invents one for them.

Benchmarks import this module as `from provenance import with_provenance`: a script's own
directory is first on `sys.path` when it runs as `python benchmarks/<name>.py`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ROOT", "git", "provenance", "with_provenance"]


def git(*args: str, root: Path = ROOT) -> str | None:
    """`git <args>` in root; its stdout stripped, or None when git or the repository is missing."""
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _command(argv: Sequence[str], root: Path) -> str:
    """The command line as a user would retype it from the repository root."""
    args = list(argv)
    if args:
        script = Path(args[0])
        with contextlib.suppress(ValueError):  # a script outside the repository keeps its path
            args[0] = str(script.resolve().relative_to(root))
        if args[0].endswith(".py"):
            args.insert(0, "python")
    return shlex.join(args)


def provenance(argv: Sequence[str] | None = None, root: Path = ROOT) -> dict[str, Any]:
    """The commit (HEAD), whether the tree was dirty (and which tracked paths), the command, the
    UTC time, the Python version, the platform and the CPU count."""
    argv = sys.argv if argv is None else argv
    changed = git("diff", "--name-only", "HEAD", root=root)  # tracked files, staged or not
    dirty_paths = sorted(changed.splitlines()) if changed else []
    return {
        "commit": git("rev-parse", "HEAD", root=root),
        "dirty": bool(dirty_paths),
        "dirty_paths": dirty_paths,
        "command": _command(argv, root),
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def with_provenance(result: dict[str, Any], argv: Sequence[str] | None = None) -> dict[str, Any]:
    """result with a fresh `provenance` key first (replacing any it carried, e.g. when merged)."""
    rest = {k: v for k, v in result.items() if k != "provenance"}
    return {"provenance": provenance(argv), **rest}
