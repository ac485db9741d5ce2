"""`python -m bench.soak [--seconds 60]`: saturate `valgrad serve --workers 2` on loopback, with faults, and check.

An async httpx generator (``bench.soak_load``) keeps ``--connections``
requests in flight: one-shot calls, registrations of ever new functions (more
than the registry holds, so it evicts), calls by id (resent whole on 404
``unknown_function``, as the SDK does), function reads, and invalid requests
that must get their exact problem code; every valid answer is compared with
the engine's result in-process. Meanwhile SDK clients call a remote function
in threads. Timeline: warm-up (25%: the server keeps freed memory for reuse,
see ``app.allocator``, so resident memory first climbs to the mix's high-water
mark), steady load until 70% (resident memory of the server's processes
measured at both ends), one worker killed with
SIGKILL, the whole server restarted at 85%, load until the end. It passes when
nothing answered 5xx or wrongly, no request timed out, every 503 carried
Retry-After, no connection failed outside the fault windows, the service kept
answering after the kill, memory grew less than ``--rss-tolerance``, and every
SDK call completed (through retries and the one-shot fallback). Loopback only;
bounded in time; stops by itself. Prints a Markdown summary (and a line per
phase on stderr), writes it also as JSON (``--json``); exit status 1 on any
failed check.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.soak_hostile import hostile, probe, probed
from bench.soak_load import REGISTRY, Stats, generate, sdk_loop
from bench.timing import table
from tests.support import SEED, SEED_ARGS, SEED_VALUE, LiveServer

SDK_THREADS = 2
WARM_UP = 0.25  # of the run, before resident memory is first measured
FAULT_GRACE = 2.0  # seconds after a fault in which in-flight requests may still fail


class Server(LiveServer):
    """`valgrad serve --workers 2` on loopback (the tests' launcher), restartable on its port: ready once both
    workers run; its processes' pids, memory and metrics."""

    WORKERS = 2

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__("app.cli", "serve", "--workers", str(self.WORKERS), "--log-level", "warning", env=env)

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + self.timeout
        while len(self.workers()) < self.WORKERS:
            if time.monotonic() > deadline or self.process is None or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"valgrad serve on {self.url} did not keep {self.WORKERS} workers running "
                                   f"within {self.timeout:.0f} s; its log:\n{self.log_tail()}")
            time.sleep(0.1)

    def workers(self) -> list[int]:
        """Pids of the worker processes (children spawned by multiprocessing; not its resource tracker)."""
        assert self.process is not None
        pid = self.process.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
                children = [int(p) for p in f.read().split()]
        except FileNotFoundError:
            return []
        return [child for child in children if b"spawn_main" in _cmdline(child)]

    def rss_mib(self) -> float:
        """Resident memory of the server process and every descendant (workers, evaluation processes), in MiB."""
        assert self.process is not None
        total = 0
        for pid in _descendants(self.process.pid):
            try:
                with open(f"/proc/{pid}/status", encoding="ascii") as f:
                    total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            except (FileNotFoundError, StopIteration):
                pass
        return total / 1024

    def evictions(self) -> int:
        return self.metric("valgrad_registry_evictions_total")

    def metric(self, name: str) -> int:
        """A metric summed over its labels and the server's workers."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        return int(sum(float(v) for v in re.findall(rf"^{re.escape(name)}\S* (\S+)$", text, re.M)))


@dataclass
class Result:
    seconds: float
    stats: Stats
    rss_before: float
    rss_after: float
    evictions: int
    killed_for_deadline: int
    health_latencies: list[float]
    respawned: bool
    restart_gap: float
    answers_after_run: bool
    checks: list[tuple[str, bool]]


def _descendants(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children", encoding="ascii") as f:
                stack += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))


def run(seconds: float = 60.0, connections: int = 32, seed: int = 0, rss_tolerance: float = 0.10) -> Result:
    """One soak run (see the module docstring); returns what it measured and which checks passed."""
    env = {"VALGRAD_REGISTRY_MAX_FUNCTIONS": str(REGISTRY), "VALGRAD_ACCESS_LOG": "false",
           "VALGRAD_MAX_QUEUE": "4", "VALGRAD_RETRY_AFTER_SECONDS": "1", "VALGRAD_EVAL_TIMEOUT_SECONDS": "2",
           "VALGRAD_HEADER_TIMEOUT_SECONDS": "2", "VALGRAD_BODY_TIMEOUT_SECONDS": "2"}
    server = Server(env)
    server.start()
    stats, stop = Stats(), threading.Event()
    t0 = time.monotonic()
    load = threading.Thread(target=lambda: asyncio.run(generate(server.url, stats, t0 + seconds, connections, seed)))
    sdks = [threading.Thread(target=sdk_loop, args=(server.url, stats, stop, seed + i)) for i in range(SDK_THREADS)]
    steady_end = t0 + 0.70 * seconds  # the hostile mix and the probe stop before the faults
    prober = probe(server.url, 0.70 * seconds - 1)
    attacks = threading.Thread(target=lambda: asyncio.run(hostile(server.url, stats, steady_end)))
    try:
        for t in [load, attacks, *sdks]:
            t.start()
        report.progress(f"soak: warm-up, {WARM_UP * seconds:.0f} s")
        _sleep_until(t0 + WARM_UP * seconds)
        rss_before = server.rss_mib()
        report.progress(f"soak: steady load (with hostile requests) until {0.70 * seconds:.0f} s into the run")
        _sleep_until(steady_end)
        attacks.join()
        health = probed(prober)
        rss_after, evictions = server.rss_mib(), server.evictions()
        killed = server.metric('valgrad_eval_workers_ended_total{reason="deadline"}')
        victim = server.workers()[0]
        now = time.monotonic()
        stats.faults.append([now, now + FAULT_GRACE])
        stats.kill_time = now
        report.progress("soak: faults: SIGKILL of one worker, load continues")
        os.kill(victim, signal.SIGKILL)
        _sleep_until(t0 + 0.85 * seconds)
        respawn_by = time.monotonic() + 10  # a busy machine may take longer than the run's 15% to start one
        while not (respawned := len(server.workers()) == 2 and victim not in server.workers()) \
                and time.monotonic() < respawn_by:
            time.sleep(0.1)
        report.progress("soak: restart of the whole server, load continues to the end")
        window = [time.monotonic(), float("inf")]
        stats.faults.append(window)
        server.restart()
        window[1] = time.monotonic() + FAULT_GRACE
        restart_gap = window[1] - FAULT_GRACE - window[0]
        load.join()
        report.progress("soak: load done; final checks")
        stop.set()
        for t in sdks:
            t.join(120)
        answer = httpx.post(server.url + "/v1/value-and-gradients", json={"function": SEED, "args": SEED_ARGS},
                            timeout=30)
        answers_after_run = answer.status_code == 200 and answer.json()["value"] == SEED_VALUE
    finally:
        stop.set()
        server.close()
    o = stats.outcomes
    checks = [
        ("no 5xx", o["5xx"] == 0),
        ("every hostile request refused with a 4xx or a 503", o["hostile request not refused"] == 0),
        ("/healthz answered every probe within 1 s", bool(health) and max(health) < 1.0),
        ("every valid answer numerically right", o["wrong answer"] + o["SDK wrong answer"] == 0),
        ("every invalid request got its problem code", o["wrong problem"] + o["unexpected status"] == 0),
        ("no timeouts (shed load is 503, not waiting)", o["timeout"] == 0),
        ("every 503 carried Retry-After", o["503 without Retry-After"] == 0),
        ("no connection errors outside the fault windows", o["connection error"] == 0),
        ("answers within 2 s of killing a worker", (stats.first_answer_after_kill or 99.0) < 2.0),
        ("the killed worker was replaced", respawned),
        ("every SDK call completed across the restart", o["SDK call failed"] == 0 and o["SDK calls completed"] > 0),
        (f"resident memory grew < {rss_tolerance:.0%} after warm-up", rss_after <= rss_before * (1 + rss_tolerance)),
        (f"more functions registered than the registry holds ({REGISTRY})", o["201/200 registered"] > REGISTRY),
        ("the restarted server answers", answers_after_run),
    ]
    return Result(seconds, stats, rss_before, rss_after, evictions, killed, health, respawned, restart_gap,
                  answers_after_run, checks)


def _pct(values: Sequence[float], q: float) -> str:
    if not values:
        return "—"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3:.1f} ms"


def summary(r: Result) -> str:
    """The run as Markdown: outcomes, latency, memory, faults, then the checks."""
    o = r.stats.outcomes
    rows: list[list[Any]] = [["requests sent by the generator", f"{o['requests']} ({o['requests'] / r.seconds:.0f}/s)"]]
    rows += [[k, v] for k, v in sorted(o.items()) if k != "requests"]
    rows += [
        ["latency of valid answers p50 / p99", f"{_pct(r.stats.latencies, 0.5)} / {_pct(r.stats.latencies, 0.99)}"],
        ["server RSS after warm-up / after steady load", f"{r.rss_before:.0f} MiB / {r.rss_after:.0f} MiB "
                                                         f"({(r.rss_after / r.rss_before - 1) * 100:+.1f}%)"],
        ["registry evictions (both workers)", r.evictions],
        ["valid requests answered (200/201, SDK calls)",
         sum(v for k, v in o.items() if k.startswith(("200", "201")) or k == "SDK calls completed")],
        ["evaluation workers killed for deadlines", r.killed_for_deadline],
        ["/healthz (fresh connection, every 100 ms) p50 / p99 / max",
         f"{_pct(r.health_latencies, 0.5)} / {_pct(r.health_latencies, 0.99)} / {_pct(r.health_latencies, 1.0)}"],
        ["first valid answer after SIGKILL of a worker",
         "—" if r.stats.first_answer_after_kill is None else f"{r.stats.first_answer_after_kill * 1e3:.0f} ms"],
        ["server restart: down for", f"{r.restart_gap:.1f} s"],
    ]
    out = [f"### Soak: {r.seconds:.0f} s, `valgrad serve --workers 2`, registry of {REGISTRY} functions\n",
           table(["measure", "value"], [[str(a), str(b)] for a, b in rows]), "",
           table(["check", "result"], [[name, "pass" if ok else "FAIL"] for name, ok in r.checks])]
    if r.stats.problems:
        out += ["", "First failures:", *[f"- {p}" for p in r.stats.problems]]
    return "\n".join(out)


def document(r: Result, markdown: str) -> dict[str, Any]:
    """The run as JSON: the Markdown's tables, the raw measures, each check and whether it passed."""
    measures = {f.name: getattr(r, f.name) for f in fields(r) if f.name not in ("stats", "checks")}
    measures |= {"outcomes": dict(r.stats.outcomes), "first_answer_after_kill": r.stats.first_answer_after_kill,
                 "problems": r.stats.problems}
    doc = report.document([{"name": "soak", "elapsed_seconds": r.seconds, "markdown": markdown}])
    return {**doc, "measures": measures, "checks": [{"check": name, "passed": ok} for name, ok in r.checks],
            "passed": all(ok for _, ok in r.checks)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the run (default 60)")
    parser.add_argument("--connections", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request mix")
    parser.add_argument("--rss-tolerance", type=float, default=0.10,
                        help="allowed growth of resident memory after warm-up (default 0.10)")
    parser.add_argument("--json", type=Path, default=report.RESULTS / "soak.json", help="JSON report path")
    args = parser.parse_args(argv)
    result = run(args.seconds, args.connections, args.seed, args.rss_tolerance)
    markdown = summary(result)
    print(markdown, flush=True)
    report.progress(f"soak: wrote {report.write_json(document(result, markdown), args.json)}")
    return 0 if all(ok for _, ok in result.checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
