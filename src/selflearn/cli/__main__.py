"""`python -m selflearn.cli ...`: the same as the `selflearn` command."""

from selflearn.cli import app

app()
