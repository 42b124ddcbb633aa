from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tests.rewrite.chains import candidate_index
from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.rewrite.online import OnlineStore
from selflearn.rewrite.ranking import FEATURES, RewriteRanker
from selflearn.rewrite.retrieval import PersonalIndexes


def test_online_forget_and_serve_help(tmp_path: Path) -> None:
    x = np.zeros((4, len(FEATURES)))
    x[[0, 2], 0] = 1.0
    ranker = RewriteRanker(n_estimators=5).fit(x, np.array([2, 0, 2, 0]), np.array([2, 2]))
    personal = PersonalIndexes(
        {
            "u1": candidate_index("personal", ["my lamp on"], [["u1"]]),
            "u2": candidate_index("personal", ["tv off"], [["u2"]]),
        }
    )
    glob = candidate_index("global", ["lights off"], [["u1", "u2", "u3"]])
    OnlineStore(tmp_path).publish(glob.to_arrow(), personal.to_arrow(), ranker, None, {"min_users": 3})
    runner = CliRunner()
    r = runner.invoke(app, ["online", "forget", "u1", "--workspace", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "1 online versions scrubbed" in r.output
    import pyarrow.parquet as pq

    from selflearn.rewrite.online import PERSONAL_FILE

    left = pq.read_table(OnlineStore(tmp_path).dir / "v0001" / PERSONAL_FILE)
    assert set(left.column("user_id").to_pylist()) == {"u2"}
    assert pq.read_table(OnlineStore(tmp_path).dir / "v0001" / "global.parquet").num_rows == 0  # below k
    help_text = runner.invoke(app, ["serve", "--help"]).output
    assert "--layers" in help_text and "--workspace" in help_text
    assert "--no-compile" in help_text  # compiled hot paths are the default, and can be turned off
    train_help = runner.invoke(app, ["online", "train", "--help"]).output
    assert "--no-compile" in train_help and "--gate-friction" in train_help


def test_online_train_refuses_a_missing_catalog(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    r = CliRunner().invoke(
        app, ["online", "train", "--workspace", str(tmp_path), "--catalog", str(tmp_path / "nope.txt")]
    )
    assert r.exit_code == 2 and "no such file" in r.output


def test_token_add_list_revoke_and_no_open_network_bind(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("SELFLEARN_TOKENS", raising=False)
    runner = CliRunner()
    ws = ["--workspace", str(tmp_path)]
    refused = runner.invoke(app, ["serve", *ws, "--host", "0.0.0.0"])
    assert refused.exit_code != 0 and "no tokens configured" in refused.output
    made = runner.invoke(app, ["token", "add", "hall-satellite", "--scope", "write", *ws])
    assert made.exit_code == 0, made.output
    secret = made.output.strip()
    assert secret.startswith("sl_") and secret not in (tmp_path / "serve" / "tokens.json").read_text()
    listed = runner.invoke(app, ["token", "list", *ws])
    assert "hall-satellite\twrite" in listed.output and secret not in listed.output
    bad = runner.invoke(app, ["token", "add", "x", "--scope", "root", *ws])
    assert bad.exit_code != 0 and "unknown scope" in bad.output
    gone = runner.invoke(app, ["token", "revoke", "hall-satellite", *ws])
    assert "revoked 1" in gone.output
