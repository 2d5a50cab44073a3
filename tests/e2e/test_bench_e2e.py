"""`python -m bench e2e` itself runs: a smoke run (BENCH_SCALE=0.01, one repetition) of the
proof phase, a real endpoint, real containers, checkpoints of 1 % of 256 MiB and 2 GiB uploaded
before the interruption. What it says of speed is not asserted: only that each row is a figure
the bench measured (the proof's seconds read from the job report), not a failure."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| end-of-attempt proof against the checkpoint's upload, ([\d.]+) MiB, disk "
                 r"\| smemu \| ([\d.]+) s \(upload ([\d.]+) s; after the restore ([\d.]+) s\) "
                 r"\| [^|]+ \| ([\d.]+) \([\d.]+ %\) \| <= 5 %: (met|NOT met) \|$")


def test_the_proof_phase_runs_at_a_hundredth_of_the_scale() -> None:
    env = {**os.environ, "BENCH_SCALE": "0.01", "BENCH_E2E_PHASES": "proof",
           "BENCH_E2E_BACKENDS": "disk", "BENCH_REPEAT": "1"}
    done = subprocess.run([sys.executable, "-m", "bench", "e2e"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout.split("# End-to-end benchmark", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert not [r for r in rows if "failed" in r], rows
    proofs = [m for m in map(ROW.match, rows) if m]
    assert [m.group(1) for m in proofs] == ["2.56", "20.48"], rows  # no other phase ran
    assert len(rows) == 3  # the header and the two proof rows
    for match in proofs:
        proof, upload, ratio = float(match.group(2)), float(match.group(3)), float(match.group(5))
        assert proof >= 0 and upload >= 0 and ratio >= 0
