"""Reliability and security of a workspace and its service, as numbers (issue 22).

    .venv/bin/python benchmarks/reliability.py [--trials 10] [--quick]

Sections (each a key of benchmarks/results/reliability.json):

* ``crash``: `selflearn serve` in a child process takes /v1/interpret turns at a steady rate and is
  killed with SIGKILL at a random moment; on restart its journal is replayed. Counts the turns it
  had acknowledged (HTTP 200 with a turn id) that are not in the logs afterwards
  (`acknowledged_turns_lost`) and those stored twice (`duplicated`), over `--trials` kills; then
  `selflearn mine` is killed at random moments, 4 x `--trials` times (`publish_kills`), and every
  listed rewrite version must still load (`publish_kills_left_invalid_store`).
* ``http``: a suite of malformed and hostile requests (NaN and Infinity, lone surrogates, oversized
  and unbounded bodies, deep nesting, wrong types, bad JSON and bytes, missing or bad credentials)
  against a running service; `status_5xx` must be 0, `echoed` counts answers that repeat a long
  input back, and every case's status is listed.
* ``deletion``: a small simulated workspace (logs, late feedback, quarantine, the nightly's rewrite
  table and online model), one person forgotten with `selflearn forget`; `traces_left` counts the
  places still naming them (`privacy.forget.find_traces`), `restored_by_nightly` the places naming
  them after the nightly job (rewrites and online layers) runs again.
* ``load``: /v1/interpret at 100 and 200 requests/s over loopback with the journal on (a turn is
  answered once it is fsynced): p50/p99 latency and errors.

* ``ingest``: `--records` fuzzed JSONL records (valid turns, turns with one field broken,
  arbitrary JSON from hypothesis, lines that are not JSON) ingested in 20 files: `crashes` (an
  exception out of `ingest`), `files_rejected_whole` (a file none of whose records were kept or
  quarantined), `silently_dropped` (records neither stored nor quarantined), and how many turns a
  second ingest of the same file stores twice.

* ``poisoning``: fake people send a rephrase pattern through the service (each principal with its
  own bearer token): `min_fake_principals_for_global_rule` is the smallest crowd whose pattern the
  nightly job installs as a global rule (k = 3), `one_credential_installs` whether one token with
  many user ids can; then a large crowd steers phrases into protected actions (opening the garage,
  unlocking), its turns are re-ingested under forged households with every logged intent forged to
  a harmless one, and `protected_rules_installed`, `protected_online_candidates` and
  `protected_served_to_ordinary_people` count what got through (the control arm runs the same
  night with the guard off, to show the attack is real).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import with_provenance
from serve_load import _free_port, _raw_load, _Server, requests_from_logs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "reliability.json"
ADMIN = "reliability-admin-token"
WRITER = "reliability-writer-token"
TOKENS = f"{ADMIN}:ops:admin;{WRITER}:satellite:write"


def make_workspace(work: Path, users: int, days: int) -> Path:
    """A small closed-loop workspace: logs, NLU, rewrite table and online model."""
    from selflearn.eval.loop import LoopConfig, run_loop

    ws = work / "ws"
    run_loop(LoopConfig(users=users, days=days, seed=0, online="global+personal", control=False), ws)
    return ws


# --------------------------------------------------------------------------- crash


def _serve(ws: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SELFLEARN_TORCH_THREADS": "1", "SELFLEARN_TOKENS": TOKENS}
    cmd = [sys.executable, "-m", "selflearn.cli", "serve", "--workspace", str(ws), "--port", str(port)]
    cmd += ["--layers", "off", "--no-compile", "--rate-limit", "0"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited while starting")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server did not come up")


def crash_trials(ws: Path, reqs: list[dict[str, Any]], trials: int, rate: float, seed: int) -> dict[str, Any]:
    import httpx

    from selflearn.logs.io import read_flat
    from selflearn.serve.turnlog import TurnLog

    rng = random.Random(seed)
    acked_all: list[str] = []
    lost = duplicated = 0
    per_trial = []
    for trial in range(trials):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _serve(ws, port)
        _wait_up(url, proc)
        acked: list[str] = []
        stop = threading.Event()

        def client(stop: threading.Event = stop, acked: list[str] = acked, url: str = url) -> None:
            with httpx.Client(headers={"Authorization": f"Bearer {WRITER}"}, timeout=5.0) as c:
                i = 0
                while not stop.is_set():
                    try:
                        r = c.post(url + "/v1/interpret", json=reqs[i % len(reqs)])
                        if r.status_code == 200:
                            acked.append(r.json()["turn_id"])
                    except httpx.HTTPError:
                        return  # the server is gone
                    i += 1
                    time.sleep(1.0 / rate)

        threads = [threading.Thread(target=client) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(1.0, 4.0))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
        TurnLog(ws).close()  # what the next start does first: replay the journal
        stored = read_flat(ws / "logs").column("turn_id").to_pylist()
        counts: dict[str, int] = {}
        for tid in stored:
            counts[tid] = counts.get(tid, 0) + 1
        trial_lost = sum(1 for t in acked if t not in counts)
        trial_dup = sum(1 for t in acked if counts.get(t, 0) > 1)
        lost += trial_lost
        duplicated += trial_dup
        acked_all += acked
        per_trial.append({"acknowledged": len(acked), "lost": trial_lost, "duplicated": trial_dup})
        print(f"  crash trial {trial + 1}: {len(acked)} acknowledged, {trial_lost} lost", flush=True)
    return {
        "trials": trials,
        "acknowledged_turns": len(acked_all),
        "acknowledged_turns_lost": lost,
        "duplicated": duplicated,
        "per_trial": per_trial,
    }


# --------------------------------------------------------------------------- http


def _raw(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One request on a raw socket (clients refuse to send some of these), read to the end."""
    import socket

    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head.encode() + b"\r\n")
        with contextlib.suppress(OSError):  # the server may answer early and close (oversized body)
            s.sendall(body)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.split(b"\r\n\r\n", 1)[-1]


def http_suite(ws: Path) -> dict[str, Any]:
    ok = {"text": "turn on the kitchen lights", "user": "u1"}
    big_text = "x" * 5_000
    nested = "[" * 50_000 + "]" * 50_000
    auth_w = {"Authorization": f"Bearer {WRITER}"}

    def js(obj: Any) -> bytes:
        return json.dumps(obj).encode()

    def jsonish(text: str) -> bytes:
        return text.encode("utf-8", "surrogatepass")

    cases: list[tuple[str, str, str, bytes, dict[str, str]]] = [
        ("valid interpret", "POST", "/v1/interpret", js(ok), auth_w),
        ("no token", "POST", "/v1/interpret", js(ok), {}),
        ("bad token", "POST", "/v1/interpret", js(ok), {"Authorization": "Bearer nope"}),
        ("not bearer", "POST", "/v1/interpret", js(ok), {"Authorization": "Basic dXNlcjpwYXNz"}),
        ("delete, write token", "DELETE", "/v1/users/u1", b"", auth_w),
        (
            "NaN confidence",
            "POST",
            "/v1/rewrite",
            b'{"text": "hi", "user": "u1", "asr_confidence": NaN}',
            auth_w,
        ),
        (
            "Infinity confidence",
            "POST",
            "/v1/interpret",
            b'{"text": "hi", "user": "u", "asr_confidence": Infinity}',
            auth_w,
        ),
        (
            "lone surrogate text",
            "POST",
            "/v1/interpret",
            jsonish('{"text": "a\\ud800b", "user": "u1"}'),
            auth_w,
        ),
        (
            "lone surrogate user",
            "POST",
            "/v1/feedback",
            jsonish('{"turn_id": "t", "user": "\\udfff", "barge_in": true}'),
            auth_w,
        ),
        ("raw surrogate bytes", "POST", "/v1/interpret", b'{"text": "a\xed\xa0\x80b", "user": "u1"}', auth_w),
        ("invalid UTF-8", "POST", "/v1/interpret", b'{"text": "\xff\xfe", "user": "u1"}', auth_w),
        ("invalid JSON", "POST", "/v1/interpret", b'{"text": ', auth_w),
        ("empty body", "POST", "/v1/interpret", b"", auth_w),
        ("JSON array", "POST", "/v1/interpret", b"[1, 2]", auth_w),
        ("deep nesting", "POST", "/v1/interpret", nested.encode(), auth_w),
        (
            "wrong types",
            "POST",
            "/v1/interpret",
            js({"text": 5, "user": ["a"], "asr_confidence": "high"}),
            auth_w,
        ),
        ("unknown field", "POST", "/v1/interpret", js({**ok, "admin": True}), auth_w),
        ("missing fields", "POST", "/v1/interpret", js({}), auth_w),
        ("confidence out of range", "POST", "/v1/rewrite", js({**ok, "asr_confidence": 7}), auth_w),
        ("long text", "POST", "/v1/interpret", js({**ok, "text": big_text}), auth_w),
        (
            "many entity ids",
            "POST",
            "/v1/interpret",
            js({**ok, "context": {"entity_ids": ["light.x"] * 5000}}),
            auth_w,
        ),
        ("bad device type", "POST", "/v1/interpret", js({**ok, "device": {"type": "fridge"}}), auth_w),
        (
            "bad local time",
            "POST",
            "/v1/interpret",
            js({**ok, "context": {"local_time": "yesterday"}}),
            auth_w,
        ),
        ("feedback without signal", "POST", "/v1/feedback", js({"turn_id": "t", "user": "u1"}), auth_w),
        (
            "feedback, negative offset",
            "POST",
            "/v1/feedback",
            js({"turn_id": "t", "user": "u1", "barge_in": True, "barge_in_offset_ms": -5}),
            auth_w,
        ),
        ("50 MB body", "POST", "/v1/interpret", b"{" + b" " * 50_000_000 + b"}", auth_w),
        ("bad content-length", "POST", "/v1/interpret", js(ok), {**auth_w, "Content-Length": "abc"}),
        ("unknown path", "POST", "/v1/nothing", js(ok), auth_w),
        ("wrong method", "GET", "/v1/interpret", b"", auth_w),
    ]
    results = []
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(ws, port)
    try:
        _wait_up(url, proc)
        for name, method, path, body, headers in cases:
            h = {"Content-Type": "application/json", **headers}
            h.setdefault("Content-Length", str(len(body)))
            try:
                status, payload = _raw(port, method, path, body, h)
            except OSError as exc:
                status, payload = 0, str(exc).encode()
            echoed = big_text[:200].encode() in payload or b"x" * 1000 in payload
            results.append({"case": name, "status": status, "echoed": echoed, "bytes": len(payload)})
            print(f"  {name:28s} {status}", flush=True)
        alive = proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "requests_tried": len(results),
        "status_5xx": sum(1 for r in results if r["status"] >= 500),
        "no_answer": sum(1 for r in results if r["status"] == 0),
        "echoed": sum(1 for r in results if r["echoed"]),
        "server_alive_after": alive,
        "cases": results,
    }


def publish_kills(ws: Path, trials: int, seed: int) -> dict[str, Any]:
    """`selflearn mine` killed with SIGKILL at random moments of its run (mostly while it mines
    and publishes): afterwards every listed rewrite version and the live one must load whole."""
    from selflearn.rewrite.store import RewriteStore

    rng = random.Random(seed)
    cmd = [sys.executable, "-m", "selflearn.cli", "mine", str(ws), "--min-users", "1"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    full = time.perf_counter() - t0
    invalid, killed, problems = 0, 0, []
    for _ in range(trials):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3 * full, 1.05 * full))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        store = RewriteStore(ws)
        try:
            for v in store.versions():
                store.load(v)
            store.current()
        except Exception as exc:  # a version listed but not loadable: the store is broken
            invalid += 1
            problems.append(f"{type(exc).__name__}: {str(exc)[:160]}")
    return {
        "publish_trials": trials,
        "publish_kills": killed,
        "publish_kills_left_invalid_store": invalid,
        "mine_seconds": round(full, 2),
        "versions_after": len(RewriteStore(ws).versions()),
        "problems": problems[:5],
    }


# --------------------------------------------------------------------------- deletion


def deletion(ws: Path) -> dict[str, Any]:
    from selflearn.jobs.nightly import NightlyConfig, run_nightly
    from selflearn.logs.io import read_flat
    from selflearn.privacy.forget import find_traces, forget_user

    flat = read_flat(ws / "logs")
    users = flat.column("user_id").to_pylist()
    # the most active person: the one most stores hold
    victim = max(set(users), key=users.count)
    (ws / "serve").mkdir(exist_ok=True)
    with open(ws / "serve" / "feedback.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"turn_id": "late-1", "user": victim, "barge_in": True}) + "\n")
    (ws / "quarantine").mkdir(exist_ok=True)
    (ws / "quarantine" / "bad.jsonl").write_text(json.dumps({"line": 1, "raw": {"user_id": victim}}) + "\n")
    before = find_traces(ws, victim)
    report = forget_user(ws, victim)
    left = find_traces(ws, victim)
    run_nightly(ws, NightlyConfig(online={"layers": "global+personal", "fine_tune_steps": 0}))
    after_nightly = find_traces(ws, victim)
    return {
        "places_before": len(before),
        "records_removed": report.removed,
        "traces_left": len(left),
        "restored_by_nightly": len(after_nightly),
        "left": left,
        "after_nightly": after_nightly,
    }


# --------------------------------------------------------------------------- poisoning

# A phrase ordinary people do not say, steered to another request. Harmless target: measures how
# many principals a global rule needs. Protected targets: must never be installed.
POISON_SOURCE = "kitchen lights off right now please"
POISON_TARGET = "turn on the kitchen lights"
PROTECTED_ATTACKS = [
    ("garage shut right now please", "open the garage"),
    ("lock every door right now please", "unlock the front door"),
]


def _attack(
    ws: Path, principals: int, users_each: int, pairs: list[tuple[str, str]], sessions: int = 3
) -> None:
    """Fake people send each (source, target) pair through the service: the source, a barge-in, the
    target said as a rephrase, `sessions` times a person, each principal with its own token."""
    from fastapi.testclient import TestClient

    from selflearn.serve.app import ServeConfig, create_app
    from selflearn.serve.auth import TokenStore

    store = TokenStore(ws / "serve" / "tokens.json")
    tokens = [store.add(f"attacker-{i}", "write") for i in range(principals)]
    cfg = ServeConfig(
        workspace=ws, layers="off", compiled=False, rate_limit=0, tokens=store, session_gap_s=1.0
    )
    with TestClient(create_app(cfg)) as client:
        for i, token in enumerate(tokens):
            auth = {"Authorization": f"Bearer {token}"}
            for u in range(users_each):
                user = f"fake-{i}-{u}"
                for _ in range(sessions):
                    for source, target in pairs:
                        r = client.post("/v1/interpret", json={"text": source, "user": user}, headers=auth)
                        r.raise_for_status()
                        fb = {"turn_id": r.json()["turn_id"], "user": user, "barge_in": True}
                        client.post("/v1/feedback", json=fb, headers=auth).raise_for_status()
                        client.post("/v1/interpret", json={"text": target, "user": user}, headers=auth)
                    time.sleep(1.1)  # the next session


def _forge(ws: Path, copies: int) -> int:
    """An ingested file replaying the attackers' turns under `copies` forged households each, with
    every turn's logged intent rewritten to a harmless one: the log's claims are lies."""
    from selflearn.logs.io import read_turns
    from selflearn.logs.quarantine import ingest

    fake = [t for t in read_turns(ws / "logs") if t.user_id.startswith("fake-")]
    lines = []
    for c in range(copies):
        for t in fake:
            d = t.to_json_dict()
            d["turn_id"] = f"forged-{c}-{t.turn_id}"
            d["session_id"] = f"forged-{c}-{t.session_id}"
            d["user_id"] = f"forged-{c}-{t.user_id}"
            d["household_id"] = f"forged-household-{c}"
            for h in d["nlu"]["nbest"]:
                h["intent"] = "lights_on"
            lines.append(json.dumps(d))
    src = ws / "forged.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ingest(src, ws).n_good


def _night(ws: Path, k: int, allow_protected: bool = False, window: bool = True) -> Any:
    """The nightly job with k = `k`; `allow_protected` turns the protected-action guard off, and
    `window=False` counts principals acting in the same minutes separately (an attacker who spaces
    its fake principals out)."""
    from selflearn.jobs.nightly import NightlyConfig, run_nightly

    miner: dict[str, Any] = {"allow_protected": True} if allow_protected else {}
    if not window:
        miner["together_window_s"] = 0.0
    return run_nightly(
        ws, NightlyConfig(min_users=k, miner=miner, online={"layers": "global", "fine_tune_steps": 0})
    )


def _installed(ws: Path, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Which attack pairs the published rewrite table holds, and which protected-reading texts the
    online global layer holds."""
    from selflearn.rewrite.guard import workspace_reader
    from selflearn.rewrite.online import OnlineStore
    from selflearn.rewrite.store import RewriteStore
    from selflearn.text.normalize import normalize_request

    table = RewriteStore(ws).current()
    rules = {(r.source, r.target) for r in table} if table is not None else set()
    wanted = [(normalize_request(a), normalize_request(b)) for a, b in pairs]
    read, protected = workspace_reader(ws)
    ostore = OnlineStore(ws)
    version = ostore.current_version()
    online = ostore.load(version) if version is not None else None
    protected_candidates = 0
    if online is not None and read is not None and protected:
        texts = list(online.global_index.texts)
        protected_candidates = sum(1 for i in read(texts) if i in protected)
    return {
        "rules": [f"{a} -> {b}" for a, b in wanted if (a, b) in rules],
        "protected_rules": sum(
            1 for r in (table or []) if read is not None and (read([r.target])[0] in (protected or ()))
        ),
        "protected_online_candidates": protected_candidates,
    }


def _served(ws: Path, texts: list[str]) -> list[str | None]:
    """What an ordinary person gets for `texts` from the service after the night (intents)."""
    from fastapi.testclient import TestClient

    from selflearn.serve.app import ServeConfig, create_app
    from selflearn.serve.auth import TokenStore

    store = TokenStore(ws / "serve" / "tokens.json")
    token = store.add("ordinary-household", "write")
    cfg = ServeConfig(
        workspace=ws, layers="global", compiled=False, rate_limit=0, tokens=store, log_turns=False
    )
    with TestClient(create_app(cfg)) as client:
        auth = {"Authorization": f"Bearer {token}"}
        return [
            client.post("/v1/interpret", json={"text": t, "user": "ordinary"}, headers=auth).json()["intent"]
            for t in texts
        ]


def poisoning(base: Path, work: Path, k: int, max_principals: int) -> dict[str, Any]:
    """The smallest number of fake principals (each with its own token) that installs a global
    rule, whether one token with many user ids ever can, and whether any group size, with forged
    log fields, installs a rule into a protected intent."""
    pair = [(POISON_SOURCE, POISON_TARGET)]
    one = work / "poison-one"
    shutil.copytree(base, one)
    _attack(one, principals=1, users_each=3 * k, pairs=pair)
    _night(one, k)
    one_credential = bool(_installed(one, pair)["rules"])
    # the same crowd judged twice: as it acted (in one burst) and as if it had spaced itself out
    tried: dict[str, bool] = {}
    spaced: dict[str, bool] = {}
    smallest = smallest_spaced = None
    for n in range(1, max_principals + 1):
        ws = work / f"poison-{n}"
        shutil.copytree(base, ws)
        _attack(ws, principals=n, users_each=1, pairs=pair)
        apart = work / f"poison-{n}-spaced"
        shutil.copytree(ws, apart)
        _night(ws, k)
        _night(apart, k, window=False)
        tried[str(n)] = bool(_installed(ws, pair)["rules"])
        spaced[str(n)] = bool(_installed(apart, pair)["rules"])
        shutil.rmtree(ws, ignore_errors=True)
        shutil.rmtree(apart, ignore_errors=True)
        if smallest is None and tried[str(n)]:
            smallest = n
        if smallest_spaced is None and spaced[str(n)]:
            smallest_spaced = n
        if smallest is not None and smallest_spaced is not None:
            break
    # protected targets: a large crowd, then the same turns again under forged households and
    # forged intents; once with the guard off (the control: the attack would work) and once on,
    # both counting the crowd's principals separately, so the protected-action guard alone is
    # what stands between them and the table
    big = 2 * k + 2
    ws = work / "poison-protected"
    shutil.copytree(base, ws)
    _attack(ws, principals=big, users_each=1, pairs=PROTECTED_ATTACKS)
    forged = _forge(ws, copies=big)
    control = work / "poison-protected-control"
    shutil.copytree(ws, control)
    _night(control, k, allow_protected=True, window=False)
    without_guard = _installed(control, PROTECTED_ATTACKS)
    _night(ws, k, window=False)
    with_guard = _installed(ws, PROTECTED_ATTACKS)
    sources = [a for a, _ in PROTECTED_ATTACKS]
    served = _served(ws, sources)
    from selflearn.rewrite.guard import workspace_reader

    read, protected = workspace_reader(ws)
    own = read(sources) if read is not None else [None] * len(sources)
    served_protected = sum(
        1 for got, mine in zip(served, own, strict=True) if got in (protected or ()) and got != mine
    )
    return {
        "k": k,
        "min_fake_principals_for_global_rule": smallest,
        "principals_tried": tried,
        "min_fake_principals_spaced_out": smallest_spaced,
        "principals_tried_spaced_out": spaced,
        "one_credential_installs": one_credential,
        "one_credential_user_ids": 3 * k,
        "protected_rules_installed": len(with_guard["rules"]) + with_guard["protected_rules"],
        "protected_online_candidates": with_guard["protected_online_candidates"],
        "protected_served_to_ordinary_people": served_protected,
        "protected_attack_principals": big,
        "forged_turns_ingested": forged,
        "control_without_guard": {
            "protected_rules_installed": len(without_guard["rules"]),
            "rules": without_guard["rules"],
        },
    }


# --------------------------------------------------------------------------- ingest


def _fuzzed_records(valid: list[dict[str, Any]], n: int, seed: int) -> list[bytes]:
    """`n` JSONL lines: valid turns, turns with one field broken (wrong types, huge or badly
    encoded strings, non-finite numbers, far timestamps, unknown versions, deep nesting, missing
    or extra fields), arbitrary JSON values from hypothesis, and lines that are not JSON."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    rng = random.Random(seed)
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
        lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
        max_leaves=25,
    )
    drawn: list[Any] = []

    @settings(max_examples=max(1, n // 4), derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(json_values)
    def collect(v: Any) -> None:
        drawn.append(v)

    collect()
    breakers: list[Callable[[Any], Any]] = [
        lambda v: None,
        lambda v: 12345,
        lambda v: "x" * 200_000,
        lambda v: ["a"] * 3,
        lambda v: {"nested": [[[[[[[[[[{}]]]]]]]]]]},
        lambda v: float("nan"),
        lambda v: float("inf"),
        lambda v: -1,
        lambda v: "9999-12-31T23:59:59Z",
        lambda v: "1969-01-01T00:00:00Z",
        lambda v: "\udc80 lone surrogate",
        lambda v: True,
        lambda v: drawn[rng.randrange(len(drawn))] if drawn else None,
    ]
    lines: list[bytes] = []

    def leaves(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        out = [path] if path else []
        if isinstance(obj, dict):
            for k, v in obj.items():
                out += leaves(v, (*path, k))
        elif isinstance(obj, list):
            for i, v in enumerate(obj[:3]):
                out += leaves(v, (*path, i))
        return out

    while len(lines) < n:
        kind = rng.random()
        if kind < 0.25:
            lines.append(json.dumps(rng.choice(valid)).encode())
        elif kind < 0.75:
            rec = json.loads(json.dumps(rng.choice(valid)))
            paths = leaves(rec)
            path = rng.choice(paths)
            parent = rec
            for k in path[:-1]:
                parent = parent[k]
            if rng.random() < 0.15 and isinstance(parent, dict):
                del parent[path[-1]]
            elif rng.random() < 0.1 and isinstance(parent, dict):
                parent["unexpected_" + str(rng.randrange(99))] = 1
            else:
                parent[path[-1]] = rng.choice(breakers)(parent[path[-1]])
            text = json.dumps(rec, allow_nan=True).replace('"\\udc80', '"\\udc80')
            lines.append(text.encode("utf-8", "surrogatepass"))
        elif kind < 0.9 and drawn:
            lines.append(json.dumps(drawn[rng.randrange(len(drawn))], allow_nan=True).encode())
        else:
            lines.append(rng.choice([b"{", b"not json", b"\xff\xfe\x00", b"[1, 2", b'{"turn_id": }']))
    return lines


def ingest_fuzz(ws: Path, n: int, files: int, seed: int) -> dict[str, Any]:
    """Fuzzed records through `selflearn ingest`'s function, in `files` JSONL files."""
    from selflearn.logs.io import read_flat
    from selflearn.logs.quarantine import ingest, read_quarantine

    raw = [json.loads(line) for line in _valid_lines(ws)]
    lines = _fuzzed_records(raw, n, seed)
    target = ws.parent / "ingest-ws"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    crashes, rejected_whole, dropped, tried, good, reported_quarantined, already = 0, 0, 0, 0, 0, 0, 0
    errors: list[str] = []
    per = max(1, len(lines) // files)
    for i in range(files):
        chunk = lines[i * per : (i + 1) * per] if i < files - 1 else lines[i * per :]
        src = target / f"fuzz-{i:03d}.jsonl"
        src.write_bytes(b"\n".join(chunk) + b"\n")
        tried += len(chunk)
        try:
            rep = ingest(src, target, day=i + 1)
        except Exception as exc:  # any exception sinks the whole file
            crashes += 1
            rejected_whole += 1
            errors.append(f"{src.name}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        good += rep.n_good
        reported_quarantined += rep.n_quarantined
        already += rep.n_already_stored
        # a valid turn drawn again in a later file is reported as already stored, not dropped
        dropped += len(chunk) - rep.n_good - rep.n_quarantined - rep.n_already_stored - rep.n_forgotten
    stored = read_flat(target / "logs").num_rows if (target / "logs").exists() else 0
    quarantined = (
        sum(1 for _ in read_quarantine(target / "quarantine")) if (target / "quarantine").exists() else 0
    )
    # idempotency: the same valid file ingested twice
    again = target / "twice.jsonl"
    again.write_bytes(b"\n".join(json.dumps(r).encode() for r in raw[:200]) + b"\n")
    before = stored
    for day in (900, 901):
        ingest(again, target, day=day)
    ids = read_flat(target / "logs").column("turn_id").to_pylist()
    twice = len(ids) - len(set(ids))
    return {
        "records_tried": tried,
        "files": files,
        "crashes": crashes,
        "files_rejected_whole": rejected_whole,
        "silently_dropped": dropped,
        "ingested": good,
        "reported_already_stored": already,
        "stored": before,
        "quarantined": quarantined,
        "quarantine_matches_reports": quarantined == reported_quarantined,
        "duplicates_stored_on_reingest": twice,
        "errors": errors[:20],
    }


def _valid_lines(ws: Path) -> list[bytes]:
    from selflearn.logs.io import read_turns

    out = []
    for t in read_turns(ws / "logs"):
        out.append(t.model_dump_json().encode())
        if len(out) >= 2000:
            break
    return out


# --------------------------------------------------------------------------- load


def interpret_load(ws: Path, reqs: list[dict[str, Any]], rate: float, duration: float) -> dict[str, Any]:
    # no per-token limit here: one token stands for the whole load
    with _Server(ws, "off", env={"SELFLEARN_TOKENS": TOKENS}, args=["--rate-limit", "0"]) as url:
        port = int(url.rsplit(":", 1)[1])
        auth = f"Authorization: Bearer {WRITER}\r\n"
        return asyncio.run(_raw_load("127.0.0.1", port, reqs, rate, duration, 8, "/v1/interpret", auth))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--users", type=int, default=80)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--records", type=int, default=10_000, help="fuzzed records to ingest")
    ap.add_argument("--quick", action="store_true", help="2 trials, 40 people, 3 s of load, 1,000 records")
    ap.add_argument("--max-principals", type=int, default=6, help="largest fake crowd tried for k")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    if a.quick:
        a.trials, a.users, a.duration, a.records = 2, 40, 3.0, 1000
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    try:
        print("making a workspace", flush=True)
        base = make_workspace(work, a.users, a.days)
        reqs = requests_from_logs(base, 2000)
        out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
        crash_ws = work / "crash"
        shutil.copytree(base, crash_ws)
        print("crash trials", flush=True)
        out["crash"] = crash_trials(crash_ws, reqs, a.trials, rate=25.0, seed=0)
        print("publish kills", flush=True)
        pub_ws = work / "publish"
        shutil.copytree(base, pub_ws)
        out["crash"].update(publish_kills(pub_ws, trials=4 * a.trials, seed=0))
        print("malformed requests", flush=True)
        out["http"] = http_suite(crash_ws)
        print("load", flush=True)
        load_ws = work / "load"
        shutil.copytree(base, load_ws)
        out["load"] = {str(rate): interpret_load(load_ws, reqs, rate, a.duration) for rate in (100.0, 200.0)}
        print("deletion", flush=True)
        out["deletion"] = deletion(base)
        print("ingestion fuzzing", flush=True)
        out["ingest"] = ingest_fuzz(base, a.records, files=20, seed=0)
        print("poisoning", flush=True)
        out["poisoning"] = poisoning(base, work, k=3, max_principals=a.max_principals)
        out["seconds"] = round(time.perf_counter() - t0, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    from selflearn.util.atomic import atomic_write_text

    atomic_write_text(a.out, json.dumps(with_provenance(out), indent=2))
    c, h, d = out["crash"], out["http"], out["deletion"]
    rows = [
        (
            f"acknowledged turns lost ({c['trials']} kill -9)",
            f"{c['acknowledged_turns_lost']} of {c['acknowledged_turns']}",
        ),
        ("acknowledged turns stored twice", str(c["duplicated"])),
        (
            f"kill -9 of mine's publish: stores left invalid ({c['publish_kills']} kills)",
            str(c["publish_kills_left_invalid_store"]),
        ),
        ("malformed requests answered 5xx", f"{h['status_5xx']} of {h['requests_tried']}"),
        ("answers echoing long input", str(h["echoed"])),
        ("traces left after forget", str(d["traces_left"])),
        ("traces restored by the nightly job", str(d["restored_by_nightly"])),
        (
            "fuzzed records: crashes / files sunk whole",
            f"{out['ingest']['crashes']} / {out['ingest']['files_rejected_whole']}",
        ),
        (
            "fuzzed records silently dropped",
            f"{out['ingest']['silently_dropped']} of {out['ingest']['records_tried']:,}",
        ),
    ]
    pz = out["poisoning"]
    rows += [
        (
            f"fake principals to install a global rule (k={pz['k']})",
            str(pz["min_fake_principals_for_global_rule"]),
        ),
        (
            f"one credential, {pz['one_credential_user_ids']} user ids, installs",
            str(pz["one_credential_installs"]),
        ),
        ("protected rules installed (forged fields)", str(pz["protected_rules_installed"])),
        ("  ... with the guard off (control)", str(pz["control_without_guard"]["protected_rules_installed"])),
        ("protected actions served to ordinary people", str(pz["protected_served_to_ordinary_people"])),
    ]
    for rate, r in out["load"].items():
        value = f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f}, {r['errors']}"
        rows.append((f"interpret at {rate} req/s: p50 / p99 ms, errors", value))
    print(f"\n{'measure':44s} value")
    for name, value in rows:
        print(f"{name:44s} {value}")
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
