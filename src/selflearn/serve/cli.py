"""`selflearn serve`: run the rewrite service on a workspace (uvicorn, one worker)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from selflearn.util.workspace import Workspace


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the CLI."""

    @app.command()
    def serve(
        workspace: Annotated[
            Path, typer.Option(help="Workspace with published rewrites and online model.")
        ] = Path("workspace/demo"),
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port.")] = 8080,
        layers: Annotated[
            str, typer.Option(help="Online layers: off, global, personal or global+personal.")
        ] = "global+personal",
        gate_nlu: Annotated[
            float | None,
            typer.Option(help="Skip retrieval at or above this NLU confidence (default: the model's)..."),
        ] = None,
        gate_asr: Annotated[
            float | None, typer.Option(help="...when the ASR confidence is at least this.")
        ] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
        log_turns: Annotated[
            bool, typer.Option(help="Log /v1/interpret turns to WORKSPACE/logs for the nightly job.")
        ] = True,
        log_flush_s: Annotated[
            float, typer.Option(help="Flush logged turns at least this often (also at 500 and on exit).")
        ] = 60.0,
        ranker_threads: Annotated[
            int,
            typer.Option(
                min=1, help="Threads LightGBM scores a request's candidates with (rankers not compiled)."
            ),
        ] = 2,
        torch_threads: Annotated[
            int,
            typer.Option(
                min=1,
                help="Threads the encoder embeds a request not seen before with (2 measured a worse "
                "tail on 2 cores shared with the load: p99 43.8 against 32.8 ms on the SLURP model).",
            ),
        ] = 1,
        compiled: Annotated[
            bool,
            typer.Option(
                "--compile/--no-compile",
                help="Serve through compiled hot paths: the rankers as native code (lleaves; cached "
                "by `online train`, else built at start) and the encoder traced. Same scores, faster.",
            ),
        ] = True,
        rate_limit: Annotated[
            float,
            typer.Option(min=0, help="Requests per second per token (bursts of twice that); 0: no limit."),
        ] = 20.0,
    ) -> None:
        """Serve POST /v1/rewrite, /v1/interpret, /v1/feedback, DELETE /v1/users/ID and GET /healthz
        (OpenAPI at /docs)."""
        import uvicorn

        from selflearn.rewrite.ranking import set_predict_threads
        from selflearn.serve.app import ServeConfig, create_app
        from selflearn.text.encoder import set_torch_threads

        set_torch_threads(torch_threads)
        set_predict_threads(ranker_threads)
        if not workspace.is_dir():
            raise typer.BadParameter(f"no workspace at {workspace}", param_hint="--workspace")
        from selflearn.serve.auth import TokenStore

        try:
            tokens = TokenStore.for_workspace(workspace)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--workspace") from exc
        if not tokens.configured and host not in ("127.0.0.1", "localhost", "::1"):
            raise typer.BadParameter(
                f"no tokens configured: listening on {host} would let anyone on the network send "
                "turns. Create one with `selflearn token add NAME --workspace ...` (or set "
                "SELFLEARN_TOKENS), or keep the loopback default.",
                param_hint="--host",
            )
        cfg = ServeConfig(
            tokens=tokens,
            workspace=workspace,
            layers=layers,
            gate_nlu=gate_nlu,
            gate_asr=gate_asr,
            log_turns=log_turns,
            log_flush_s=log_flush_s,
            compiled=compiled,
            rate_limit=rate_limit,
        )
        uvicorn.run(create_app(cfg), host=host, port=port, log_level=log_level, access_log=False)

    token = typer.Typer(
        help="Bearer tokens for `selflearn serve` (hashes kept in WORKSPACE/serve).", no_args_is_help=True
    )
    app.add_typer(token, name="token")

    @token.command("add")
    def token_add(
        principal: Annotated[
            str, typer.Argument(help="Who the token speaks for (a household, device, operator).")
        ],
        scope: Annotated[
            str, typer.Option(help="read, write (implies read) or admin (implies both).")
        ] = "write",
        workspace: Annotated[Path, typer.Option(help="Workspace.")] = Path("workspace/demo"),
    ) -> None:
        """Create a token and print it once (only its hash is stored)."""
        from selflearn.serve.auth import TokenStore

        try:
            secret = TokenStore(Workspace(workspace).tokens_file).add(principal, scope)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        typer.echo(secret)

    @token.command("list")
    def token_list(
        workspace: Annotated[Path, typer.Option(help="Workspace.")] = Path("workspace/demo"),
    ) -> None:
        """Principals with tokens, their scope and when they were made (never the tokens)."""
        from selflearn.serve.auth import TokenStore

        for principal, scope, created in TokenStore.for_workspace(workspace).principals():
            typer.echo(f"{principal}\t{scope}\t{created}")

    @token.command("revoke")
    def token_revoke(
        principal: Annotated[str, typer.Argument(help="Principal whose stored tokens to remove.")],
        workspace: Annotated[Path, typer.Option(help="Workspace.")] = Path("workspace/demo"),
    ) -> None:
        """Remove every stored token of PRINCIPAL (a running service reads tokens at start)."""
        from selflearn.serve.auth import TokenStore

        n = TokenStore(Workspace(workspace).tokens_file).revoke(principal)
        typer.echo(f"revoked {n} token(s) of {principal}")

    online = typer.Typer(help="Online rewrite layers: train from logs, forget a user.", no_args_is_help=True)
    app.add_typer(online, name="online")

    @online.command("train")
    def train(
        workspace: Annotated[Path, typer.Option(help="Workspace with logs/.")] = Path("workspace/demo"),
        layers: Annotated[str, typer.Option(help="global, personal or global+personal.")] = "global+personal",
        steps: Annotated[int, typer.Option(help="Bi-encoder fine-tuning steps (0: shipped encoder).")] = 100,
        min_users: Annotated[int, typer.Option(help="Distinct users a global candidate needs.")] = 3,
        catalog: Annotated[
            Path | None,
            typer.Option(
                help="Known-good requests (text lines, or JSONL with text/sentence) offered as global "
                "candidates, read by the workspace's NLU."
            ),
        ] = None,
        compile_rankers: Annotated[
            bool,
            typer.Option(
                "--compile/--no-compile",
                help="Compile the published rankers to native code for `selflearn serve` on this kind "
                "of machine.",
            ),
        ] = True,
        gate_friction: Annotated[
            bool,
            typer.Option(
                "--gate-friction/--no-gate-friction",
                help="Let a confident request that k people had to say again through the gate.",
            ),
        ] = False,
        detector: Annotated[
            str,
            typer.Option(
                help="Rephrase detector: auto (the trained one the workspace holds, span before lexical, "
                "else the hand-set heuristic), heuristic, span, lexical or rule."
            ),
        ] = "auto",
    ) -> None:
        """The nightly job with the online layers: mine rewrites, then train and publish the online model."""
        from rich.console import Console

        from selflearn.jobs.nightly import NightlyConfig, run_nightly

        console = Console()
        if not (workspace / "logs").is_dir():
            raise typer.BadParameter(f"no logs under {workspace}", param_hint="--workspace")
        from selflearn.feedback.rephrase.registry import workspace_detector

        try:
            det, which = workspace_detector(workspace, detector)
        except (FileNotFoundError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--detector") from exc
        console.print(f"rephrase detector: {which}")
        if catalog is not None and not catalog.is_file():
            raise typer.BadParameter(f"no such file: {catalog}", param_hint="--catalog")
        online_cfg: dict[str, object] = {
            "layers": layers,
            "fine_tune_steps": steps,
            "compile_rankers": compile_rankers,
            "gate_friction": gate_friction,
        }
        if catalog is not None:
            online_cfg["catalog"] = str(catalog)
        cfg = NightlyConfig(min_users=min_users, online=online_cfg)
        with console.status("mining and training the online layers"):
            res = run_nightly(workspace, cfg, detector=det)
        o = res.online or {}
        for problem in (o.get("catalog_rejected") or [])[:5]:
            console.print(f"[yellow]catalog line skipped: {problem}[/yellow]")
        console.print(
            f"rewrite table {res.version} ({res.rules} rules); online model {o.get('version')}: "
            f"{o.get('global_candidates')} global candidates ({o.get('catalog_candidates', 0)} from the "
            f"catalog), {o.get('personal_users')} personal indexes, "
            f"{o.get('pairs')} mined pairs, gate recall {o.get('gate_recall', 0):.1%}"
        )

    @online.command("forget")
    def forget(
        user: Annotated[str, typer.Argument(help="User id.")],
        workspace: Annotated[Path, typer.Option(help="Workspace.")] = Path("workspace/demo"),
    ) -> None:
        """Delete USER from the rewrite tables and from every kept online model version."""
        from rich.console import Console

        from selflearn.rewrite.online import OnlineStore
        from selflearn.rewrite.store import RewriteStore

        table_version = RewriteStore(workspace).delete_user(user)
        n = OnlineStore(workspace).delete_user(user)
        Console().print(
            f"forgot {user}: rewrite table {table_version or 'unchanged'}, {n} online versions scrubbed"
        )
