"""The benchmark harness never rots: scripts/bench_run.sh --smoke runs its scenarios end to end
(about a second each, tiny N, one round) and must print a table with numbers and ratios.

The full matrix (issue 7, docs/BENCHMARKS.md) is not a test. This one only proves that the
runner, the load generator (wsgate-bench) and the backends (wsgate-bench-backend) still work
together with wsgate: every scenario produces a median for wsgate and, where there is a peer,
for the peer and a ratio; no run and no backend reports an error (the load generator validates
every payload it receives, the sink backend every record it consumes).

Peers: the scenarios that need no nginx, haproxy or websockify always run; the others run when
their peer is installed (the smoke mode never installs anything). The bench binaries are found
beside wsgate: .../build/X/src/wsgate -> .../build/X/bench/; builds without them
(-DWSGATE_BENCH=OFF, e.g. the sanitizer build) skip this test.
"""

import os
import re
import shutil
import subprocess

import pytest

WSGATE_BIN = os.environ.get("WSGATE_BIN")
SOURCE_DIR = os.environ.get("WSGATE_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
TIME_BOUND = 60  # seconds for the whole smoke run

PEERLESS = ["bridge-sink-16k", "builtin-echo-64", "fanout-chat", "rss-idle"]
NEEDS = {  # scenario -> the Debian program it compares against
    "ws-echo-64": "nginx", "ws-echo-64-tunnel": "nginx", "ws-echo-16k": "nginx",
    "http-100": "nginx", "rss-proxied": "nginx",
    "ws-echo-64-haproxy": "haproxy", "bridge-64": "websockify",
}
NUMBER = re.compile(r"^[\d,]+(\.\d+)?$")
RATIO = re.compile(r"^\d+\.\d\d×$")


def installed(program):
    return shutil.which(program) is not None or os.path.exists(f"/usr/sbin/{program}")


def bench_dir():
    if not WSGATE_BIN:
        pytest.skip("WSGATE_BIN is not set (CTest sets it)")
    build = os.path.dirname(os.path.dirname(os.path.abspath(WSGATE_BIN)))
    d = os.path.join(build, "bench")
    for name in ("wsgate-bench", "wsgate-bench-backend"):
        if not os.access(os.path.join(d, name), os.X_OK):
            pytest.skip(f"{d}/{name} was not built (this build has -DWSGATE_BENCH=OFF or no "
                        "Google Benchmark)")
    return d


def parse_markdown(path):
    rows = {}
    lines = [l for l in open(path, encoding="utf-8") if l.startswith("| ")]
    header = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        row = dict(zip(header, cells))
        rows[row["scenario"].split(":")[0]] = row
    return rows


def test_bench_run_smoke(tmp_path):
    d = bench_dir()
    scenarios = PEERLESS + [s for s, prog in NEEDS.items() if installed(prog)]
    out = tmp_path / "table.md"
    env = dict(os.environ, WSGATE_BIN=os.path.abspath(WSGATE_BIN), WSGATE_BENCH_DIR=d)
    proc = subprocess.run(
        ["bash", os.path.join(SOURCE_DIR, "scripts", "bench_run.sh"), "--smoke",
         "--only", ",".join(scenarios), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=TIME_BOUND)
    report = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, report
    rows = parse_markdown(out)
    assert sorted(rows) == sorted(scenarios), report
    for name, row in rows.items():
        assert NUMBER.match(row["wsgate median"]), (name, row, report)
        assert row["errors"] == "0", (name, row, report)
        assert NUMBER.match(row["p99 µs wsgate"]) or name == "bridge-sink-16k", (name, row)
        if name == "fanout-chat":
            assert row["peer"] == "-"
            continue
        assert NUMBER.match(row["peer median"]), (name, row, report)
        assert RATIO.match(row["ratio wsgate/peer"]), (name, row, report)
        assert float(row["ratio wsgate/peer"].rstrip("×")) > 0, (name, row)
    # Throughput scenarios also report the system's messages per CPU-second.
    assert NUMBER.match(rows["builtin-echo-64"]["msgs/CPU-s wsgate"]), rows["builtin-echo-64"]
    assert NUMBER.match(rows["builtin-echo-64"]["msgs/CPU-s peer"]), rows["builtin-echo-64"]
