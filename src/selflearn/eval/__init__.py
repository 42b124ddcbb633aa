"""Evaluation: statistics of a workspace, wins and losses against the truth, report.json, plots."""
