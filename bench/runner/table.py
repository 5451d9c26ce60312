"""Prints scripts/bench_run.sh's table of medians and ratios, and writes it as markdown.

usage: table.py META RESULTS OUT_FILE|"" NOTE

META rows: scenario, label, unit, peer, target. RESULTS rows: see record.py. For each scenario:
the median over rounds of wsgate's and the peer's value, the ratio wsgate/peer of the medians,
the median p99 latency of each, and the median of messages per CPU-second of each system under
test (messages of the run / its CPU time; "-" where there is no such process, e.g. raw TCP).
"""
import statistics
import sys

COLUMNS = ["scenario", "unit", "wsgate median", "peer", "peer median", "ratio wsgate/peer",
           "p99 µs wsgate", "p99 µs peer", "msgs/CPU-s wsgate", "msgs/CPU-s peer", "errors",
           "target"]


def fmt(x):
    if x is None or x != x:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def med(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else None


def main():
    meta_path, results_path, out, note = sys.argv[1:5]
    runs = {}
    for line in open(results_path, encoding="utf-8"):
        scen, system, _rnd, value, p99, cpu, messages, errors = line.rstrip("\n").split("\t")
        runs.setdefault(scen, {}).setdefault(system, []).append(
            (float(value), float(p99), float(cpu) if cpu else None, int(messages), int(errors)))
    rows = []
    for line in open(meta_path, encoding="utf-8"):
        scen, label, unit, peer, target = line.rstrip("\n").split("\t")
        if target.startswith("skipped"):
            rows.append([scen, "-", target, "-", "-", "-", "-", "-", "-", "-", "-", "-"])
            continue
        by = runs.get(scen, {})
        a = by.get("wsgate", [])
        others = [s for s in by if s != "wsgate"]
        b = by.get(others[0], []) if others else []

        def stats(rs):
            per_cpu = [m / c for (_, _, c, m, _) in rs if c]
            return (med([r[0] for r in rs]), med([r[1] for r in rs]), med(per_cpu),
                    sum(r[4] for r in rs))
        va, pa, ca, ea = stats(a)
        vb, pb, cb, eb = stats(b)
        ratio = va / vb if va is not None and vb else None
        rows.append([f"{scen}: {label}", unit, fmt(va), others[0] if others else "-", fmt(vb),
                     f"{ratio:.2f}×" if ratio is not None else "-", fmt(pa), fmt(pb), fmt(ca),
                     fmt(cb), str(ea + eb), target])
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    print(note)
    total_errors = sum(r[4] for rs in runs.values() for v in rs.values() for r in v)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(f"{note}\n\n| " + " | ".join(COLUMNS) + " |\n")
            f.write("|" + "---|" * len(COLUMNS) + "\n")
            for r in rows:
                f.write("| " + " | ".join(v.replace("|", "/") for v in r) + " |\n")
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
