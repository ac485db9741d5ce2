"""`python -m bench.soak` in its short form: the soak script runs end to end and its checks pass.

Ten seconds of the same mix and faults as `make soak` (a worker killed, the
server restarted, SDK calls across both), with a loose memory tolerance: a
ten-second run has no room for a real warm-up, so memory is judged only by
the full run.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow  # a short soak against a served app: `make test`, not `make check`

CHECKS = ["no 5xx", "every valid answer numerically right", "every invalid request got its problem code",
          "no timeouts (shed load is 503, not waiting)", "every 503 carried Retry-After",
          "no connection errors outside the fault windows", "answers within 2 s of killing a worker",
          "the killed worker was replaced", "every SDK call completed across the restart",
          "more functions registered than the registry holds (16)", "the restarted server answers"]


def test_short_soak_passes_every_check() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.soak", "--seconds", "10", "--connections", "8",
                           "--rss-tolerance", "1.0"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = done.stdout
    assert done.returncode == 0, report + done.stderr[-3000:]
    for check in CHECKS:
        assert f"| {check} | pass |" in report, report
    for measure in ("requests sent by the generator", "200 one-shot", "200 by id", "4xx as expected",
                    "SDK calls completed", "latency of valid answers p50 / p99",
                    "server RSS after warm-up / after steady load"):
        assert f"| {measure} |" in report, report
