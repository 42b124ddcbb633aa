"""Load on `selflearn serve`: latency and throughput of POST /v1/rewrite on loopback, and the
in-process cost of the rewriter's paths (precomputed only; with the online layers).

    .venv/bin/python benchmarks/serve_load.py [--workspace WS] [--rate 200] [--duration 20]
        [--layers global+personal] [--quick]

The server runs in its own process (`python -m selflearn.cli serve`, uvicorn, one worker, torch
on one thread); this process is the load generator: an open-loop client on raw asyncio streams
(keep-alive HTTP/1.1, `--connections` of them) that offers requests at a fixed rate (each request
is scheduled at t0 + i / rate and its latency is measured from that scheduled time, so a server
falling behind shows up in the tail instead of slowing the generator down), bounded by
--duration. Maximum throughput is measured separately with wrk (closed loop, C client).
Requests replay the workspace's logged requests (text, user, device, room, ASR confidence).
Without --workspace a small workspace is made first with the closed loop (online layers on).
Reports p50/p90/p99/max latency, achieved throughput and the number of errors (non-2xx or
transport), for the online layers and for the precomputed-only path. Prints a table and writes
benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from provenance import with_provenance

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "serve_load.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_workspace(work: Path, users: int, days: int) -> Path:
    from selflearn.eval.loop import LoopConfig, run_loop

    ws = work / "serve-ws"
    run_loop(LoopConfig(users=users, days=days, seed=0, online="global+personal"), ws)
    return ws


def requests_from_logs(ws: Path, n: int, seed: int = 0) -> list[dict[str, Any]]:
    from selflearn.logs.io import read_flat

    flat = read_flat(ws / "logs").to_pylist()
    reqs = [
        {
            "text": r["rewrite_original"] or r["asr_text"],
            "user": r["user_id"],
            "asr_confidence": min(1.0, max(0.0, float(r["asr_confidence"] or 0.0))),
            "device": {"id": r["device_id"] or "d", "type": r["device_type"] or "speaker"},
            "context": {"room": r["room"]},
        }
        for r in flat
        if r["wake_detected"] and (r["rewrite_original"] or r["asr_text"])
    ]
    rng = random.Random(seed)
    return [rng.choice(reqs) for _ in range(n)]


def _pct(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {
            "p50_ms": float("nan"),
            "p90_ms": float("nan"),
            "p99_ms": float("nan"),
            "max_ms": float("nan"),
        }
    a = np.asarray(xs)
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
    }


def in_process(ws: Path, reqs: list[dict[str, Any]], layers: str) -> dict[str, Any]:
    """Latency of the service's rewrite path itself (`OnlineRewriter.rewrite`, no HTTP), over the
    same requests; plus the encoder's cache hit rate and the cost of encoding a text never seen."""
    from selflearn.assistant.nlu.model import NluModel
    from selflearn.rewrite.online import OnlineRewriter
    from selflearn.text.encoder import set_torch_threads

    set_torch_threads(1)
    from selflearn.util.workspace import Workspace

    nlu_dir = Workspace(ws).model_dir("nlu")
    nlu = NluModel.load(nlu_dir) if nlu_dir is not None else None
    # as `selflearn serve` runs it: the rankers compiled to native code
    rw = OnlineRewriter(root=ws, layers=layers, nlu=nlu, check_interval_s=3600, compiled=True)

    def call(r: dict[str, Any]) -> Any:
        return rw.rewrite(
            r["text"],
            r["user"],
            r["asr_confidence"],
            r["device"]["type"],
            r["context"]["room"],
            12,
            time.time(),
        )

    for r in reqs[:50]:  # warm torch kernels
        call(r)
    enc = rw.model.encoder if rw.model is not None else None
    hits0, miss0 = (enc.hits_, enc.misses_) if enc else (0, 0)
    lat = []
    fired = 0
    for r in reqs:
        t0 = time.perf_counter()
        d = call(r)
        lat.append((time.perf_counter() - t0) * 1000)
        fired += d.rewritten is not None
    out: dict[str, Any] = {"layers": layers, "requests": len(reqs), **_pct(lat), "fired": fired}
    out["stats"] = dict(rw.stats)
    if enc is not None:
        hits, misses = enc.hits_ - hits0, enc.misses_ - miss0
        out["encoder_cache_hit_rate"] = hits / max(1, hits + misses)
        novel = []
        for i in range(10):
            t0 = time.perf_counter()
            enc.encode_one(f"a request nobody made before number {i}")  # as served: compiled
            novel.append((time.perf_counter() - t0) * 1000)
        out["uncached_encode"] = _pct(novel)
        out["encoder"] = enc.precision_
    return out


async def _raw_load(
    host: str,
    port: int,
    reqs: list[dict[str, Any]],
    rate: float,
    duration: float,
    conns: int,
    path: str = "/v1/rewrite",
    headers: str = "",
) -> dict[str, Any]:
    """Open-loop load at a fixed offered rate with a pool of `conns` keep-alive HTTP/1.1
    connections written on raw asyncio streams (an HTTP client library costs more CPU per request
    than the server does on 2 cores, and then measures itself). Request i is due at t0 + i / rate;
    its latency runs from that due time to the last byte of the answer, so waiting for a free
    connection (the server falling behind) counts. Bounded: stops sending after `duration`.
    `path`: the endpoint; `headers`: extra header lines (each ending in CRLF)."""
    n = min(len(reqs), int(rate * duration))
    bodies = [json.dumps(r).encode() for r in reqs[:n]]
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{headers}"
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(conns):
        idle.put_nowait(await asyncio.open_connection(host, port))
    lat: list[float] = []
    server_ms: list[float] = []
    errors: list[str] = []

    async def send(body: bytes) -> tuple[int, bytes]:
        reader, writer = await idle.get()
        try:
            writer.write(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            payload = await reader.readexactly(length)
            idle.put_nowait((reader, writer))
            return int(status_line.split()[1]), payload
        except Exception:
            writer.close()
            idle.put_nowait(await asyncio.open_connection(host, port))
            raise

    for b in bodies[:20]:  # warm-up, not measured
        await send(b)
    t0 = time.perf_counter()

    async def one(i: int) -> None:
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            status, payload = await asyncio.wait_for(send(bodies[i]), timeout=10.0)
            if status != 200:
                errors.append(f"HTTP {status}")
            else:
                server_ms.append(float(json.loads(payload)["latency_ms"]))
        except Exception as exc:  # transport errors and timeouts count as errors
            errors.append(type(exc).__name__)
        lat.append((time.perf_counter() - due) * 1000)

    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - t0
    while not idle.empty():
        _r, w = idle.get_nowait()
        w.close()
    return {
        "target_rate": rate,
        "connections": conns,
        "requests": n,
        "completed": len(lat) - len(errors),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "seconds": elapsed,
        "throughput_rps": (len(lat) - len(errors)) / elapsed if elapsed else 0.0,
        **_pct(lat),
        "server_side": _pct(server_ms),
    }


def fixed_rate_load(
    ws: Path, layers: str, reqs: list[dict[str, Any]], rate: float, duration: float, conns: int
) -> dict[str, Any]:
    """The server in one process, this open-loop generator in another, at `rate` requests/s."""
    import httpx

    with _Server(ws, layers) as url:
        port = int(url.rsplit(":", 1)[1])
        health = httpx.get(url + "/healthz").json()
        result = asyncio.run(_raw_load("127.0.0.1", port, reqs, rate, duration, conns))
        result["server_stats_after"] = httpx.get(url + "/healthz").json()["stats"]
    result["layers"] = layers
    result["server"] = {k: health.get(k) for k in ("table_version", "online_version", "ranker", "encoder")}
    return result


def _parse_wrk(out: str) -> dict[str, Any]:
    """Latency percentiles, req/s and errors from `wrk --latency` output."""
    import re

    unit = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    res: dict[str, Any] = {"errors": 0}
    for pct, val, u in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        res[f"p{pct}_ms"] = float(val) * unit[u]
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["throughput_rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["errors"] += int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["errors"] += sum(map(int, m.groups())) if m else 0
    return res


def wrk_load(
    ws: Path, layers: str, reqs: list[dict[str, Any]], conns: int, duration: float
) -> dict[str, Any]:
    """Closed-loop load with wrk (C, so the client costs little CPU): `conns` connections, each
    sending the next logged request as soon as the previous one is answered."""
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk not installed (apt-get install wrk)"}
    bodies = ",".join(json.dumps(json.dumps(r)) for r in reqs[:500])
    lua = (
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"bodies = {{{bodies}}}\ni = 0\n"
        "request = function()\n  i = i % #bodies + 1\n"
        '  return wrk.format(nil, "/v1/rewrite", nil, bodies[i])\nend\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
    with _Server(ws, layers) as url:
        cmd = [wrk, "-t1", f"-c{conns}", f"-d{int(duration)}s", "--latency", "-s", fh.name, url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    os.unlink(fh.name)
    return {"layers": layers, "connections": conns, "duration_s": duration, **_parse_wrk(out)}


class _Server:
    """`selflearn serve` in a child process on a free loopback port, for the length of a block."""

    def __init__(
        self, ws: Path, layers: str, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        self.ws, self.layers, self.extra_env, self.extra_args = ws, layers, env or {}, args or []

    def __enter__(self) -> str:
        import httpx

        port = _free_port()
        env = {**os.environ, "SELFLEARN_TORCH_THREADS": "1", **self.extra_env}
        cmd = [
            sys.executable, "-m", "selflearn.cli", "serve",
            "--workspace", str(self.ws), "--port", str(port), "--layers", self.layers, *self.extra_args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"server exited: {err}")
            try:
                if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("server did not come up in 180 s")
            time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=None)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--layers", default="global+personal")
    ap.add_argument("--users", type=int, default=150, help="for the workspace made without --workspace")
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--in-process", type=int, default=1000, help="requests for the in-process timing")
    ap.add_argument("--wrk-connections", type=int, default=2, help="wrk's closed-loop connections")
    ap.add_argument("--connections", type=int, default=8, help="the fixed-rate generator's connections")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.quick:
        args.duration, args.users, args.days = 3.0, 40, 2
    os.environ.setdefault("SELFLEARN_TORCH_THREADS", "1")
    ws = args.workspace or make_workspace(
        Path(tempfile.mkdtemp(prefix="selflearn-serve-")), args.users, args.days
    )
    reqs = requests_from_logs(ws, int(args.rate * args.duration) + 50)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "workspace": str(ws),
        "targets": {
            "p50_ms": 10.0,
            "p99_ms": 25.0,
            "rate_rps": 200.0,
            "errors": 0,
            "precomputed_p99_ms": 1.0,
        },
        "in_process": [],
        "http": [],
    }
    for layers in ("off", args.layers):
        result["in_process"].append(in_process(ws, reqs[: args.in_process], layers))
        print(f"in-process {layers}: {json.dumps(result['in_process'][-1], default=str)}", flush=True)
    # The in-process models are gone; collect their cycles now and freeze what is left, so that
    # the generator's own collector never pauses it mid-run (a full collection of a model-sized
    # heap takes ~280 ms, which would read as server latency).
    gc.collect()
    gc.freeze()
    result["wrk"] = []
    for layers in (args.layers, "off"):
        w = wrk_load(ws, layers, reqs, args.wrk_connections, args.duration)
        result["wrk"].append(w)
        print(f"wrk {layers}: {json.dumps(w, default=str)}", flush=True)
    for layers in (args.layers, "off"):
        r = fixed_rate_load(ws, layers, reqs, args.rate, args.duration, args.connections)
        result["http"].append(r)
        print(f"HTTP {layers}: {json.dumps(r, default=str)}", flush=True)
    print()
    print(f"{'path':<40}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s':>8}{'errors':>8}")
    for r in result["in_process"]:
        name = "in-process " + ("precomputed only" if r["layers"] == "off" else r["layers"])
        print(f"{name:<40}{r['p50_ms']:>9.2f}{r['p90_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}")
    for r in result["http"]:
        name = f"HTTP @{r['target_rate']:.0f}/s " + (
            "precomputed only" if r["layers"] == "off" else r["layers"]
        )
        print(
            f"{name:<40}{r['p50_ms']:>9.2f}{r['p90_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}"
            f"{r['throughput_rps']:>8.0f}{r['errors']:>8}"
        )
    for r in result["wrk"]:
        if "p50_ms" not in r:
            print(f"wrk: {r.get('skipped')}")
            continue
        name = f"wrk c={r['connections']} " + ("precomputed only" if r["layers"] == "off" else r["layers"])
        print(
            f"{name:<40}{r['p50_ms']:>9.2f}{r['p90_ms']:>9.2f}{r['p99_ms']:>9.2f}{'':>9}"
            f"{r['throughput_rps']:>8.0f}{r['errors']:>8}"
        )
    for r in result["in_process"]:
        if "encoder_cache_hit_rate" in r:
            print(
                f"{r['layers']}: encoder cache hit rate {r['encoder_cache_hit_rate']:.1%}; a never-seen text "
                f"costs {r['uncached_encode']['p50_ms']:.1f} ms (p50) to encode; {r['fired']} rewrites fired"
            )
    fixed = next((r for r in result["http"] if r["layers"] == args.layers), None)
    pre = next((r for r in result["in_process"] if r["layers"] == "off"), None)
    if fixed is not None and pre is not None:
        verdict = {
            "rate_met": fixed["throughput_rps"] >= 0.98 * 200.0 and fixed["target_rate"] >= 200.0,
            "p50_met": fixed["p50_ms"] <= 10.0,
            "p99_met": fixed["p99_ms"] <= 25.0,
            "zero_errors": fixed["errors"] == 0,
            "precomputed_p99_met": pre["p99_ms"] <= 1.0,
        }
        result["verdict"] = verdict
        print(f"targets at {fixed['target_rate']:.0f} req/s ({args.layers}): {verdict}")
    result["machine"]["load_avg_end"] = os.getloadavg()
    print(
        f"load average at start: {result['machine']['load_avg']}, at end: {result['machine']['load_avg_end']}"
    )
    from selflearn.util.atomic import atomic_write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(with_provenance(result), indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
