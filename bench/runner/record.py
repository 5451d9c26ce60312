"""Appends one run of scripts/bench_run.sh to its results file (tab-separated).

usage: record.py RESULTS SCEN SYSTEM ROUND METRIC OUTPUT CPU_TICKS RC HZ [RSS_BEFORE RSS_AFTER]

OUTPUT is what the client printed: wsgate-bench's JSON line(s), or wrk's text report. METRIC is
the JSON field to report (messages_per_s, mb_per_s, deliveries_per_s), or "rss": then OUTPUT
holds one `connect` JSON line per client process and the value is KiB of RSS per opened
connection. CPU_TICKS is the system's CPU time over the run in clock ticks (-1: no system, e.g.
raw TCP). Row: scenario, system, round, value, p99 latency (us), CPU s, messages, errors.
"""
import json
import math
import re
import sys


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    p99 = math.nan
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if m:
        p99 = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(g) for g in m.groups())
    return {"messages_per_s": rps, "messages": total, "latency_us": {"p99": p99},
            "errors": errors}


def main():
    results, scen, system, rnd, metric, path, cpu, rc, hz = sys.argv[1:10]
    extra = sys.argv[10:]
    text = open(path, encoding="utf-8", errors="replace").read()
    lines = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
    value = p99 = math.nan
    messages, errors = 0, 0
    try:
        if metric == "rss":
            before, after = (int(x) for x in extra)
            opened = sum(d["opened"] for d in lines)
            errors = sum(d["errors"] for d in lines)
            value = (after - before) / opened if opened else math.nan
            p99 = max((d["handshake_us"]["p99"] for d in lines), default=math.nan)
            messages = opened
        else:
            d = lines[0] if lines else parse_wrk(text)
            value = float(d[metric])
            p99 = float(d["latency_us"]["p99"]) or math.nan  # sink: nothing to time
            messages = int(float(d.get("deliveries", d.get("messages", 0))))
            errors = int(d["errors"])
    except (KeyError, IndexError, AttributeError, ValueError):
        errors += 1  # no usable output: the run counts as failed
    if int(rc) != 0 and errors == 0:
        errors = 1
    cpu_s = "" if int(cpu) < 0 else f"{int(cpu) / int(hz):.2f}"
    with open(results, "a", encoding="utf-8") as f:
        f.write(f"{scen}\t{system}\t{rnd}\t{value:.3f}\t{p99:.1f}\t{cpu_s}\t{messages}\t{errors}\n")


if __name__ == "__main__":
    main()
