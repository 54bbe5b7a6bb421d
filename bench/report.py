#!/usr/bin/env python3
"""Turn the raw results that bench/run collected into bench/RESULTS.md.

  report.py RAW.tsv OUT.md

RAW.tsv has one record a line, tab-separated:
  e KEY VALUE                       the machine, versions, dates
  m SECTION GROUP/TOOL UNIT V...    the values of repeated runs of one measurement
  c SECTION COMMAND                 a command the measurement ran
  n SECTION TEXT                    a note (a peer skipped, and why)
Medians with min/max, ratios trainctl / peer, and the targets of the
benchmark issue with PASS or MISS.
"""
import statistics
import sys

SECTIONS = {
    "1": "Submit latency",
    "2": "Listing latency",
    "3": "Memory",
    "4": "Sampling overhead",
    "5": "Log throughput",
    "6": "Stop correctness and latency",
    "7": "Crash survival",
    "8": "trainctl top",
}

# (section, target, metric, reference metric or None for an absolute limit, op, limit)
TARGETS = [
    ("1", "submit <= 1.0x tsp", "submit/trainctl", "submit/tsp", "<=", 1.0),
    ("1", "1,000 submissions done <= 0.7x tsp", "many/trainctl", "many/tsp", "<=", 0.7),
    ("2", "ls with 100 jobs <= 1.0x tsp -l", "ls-100/trainctl", "ls-100/tsp", "<=", 1.0),
    ("2", "ls with 1,000 jobs <= 2x its 100-job time", "ls-1000/trainctl", "ls-100/trainctl", "<=", 2.0),
    ("3", "daemon idle RSS <= 4 MiB", "rss-idle/trainctl", None, "<=", 4096),
    ("3", "daemon + 100 shims PSS <= 1.0x tsp server + clients", "pss-100/trainctl", "pss-100/tsp", "<=", 1.0),
    ("4", "daemon CPU via /proc <= 0.5x top -b -d 1", "cpu-proc/trainctl", "cpu-proc/top", "<=", 0.5),
    ("4", "daemon CPU with cgroups <= 0.1x top -b -d 1", "cpu-cgroup/trainctl", "cpu-cgroup/top", "<=", 0.1),
    ("4", "sampling pass per process <= 1.3x the floor", "us-per-process/sampler", "us-per-process/floor", "<=", 1.3),
    ("5", "--no-pty >= 0.8x plain redirect", "mbps/trainctl-no-pty", "mbps/redirect", ">=", 0.8),
    ("5", "PTY >= 0.9x minimal PTY relay", "mbps/trainctl", "mbps/pty-relay", ">=", 0.9),
    ("5", "PTY >= 2x tmux pipe-pane", "mbps/trainctl", "mbps/tmux", ">=", 2.0),
    ("5", "0 bytes lost, PTY", "lost/trainctl", None, "<=", 0),
    ("5", "0 bytes lost, --no-pty", "lost/trainctl-no-pty", None, "<=", 0),
    ("6", "0 processes left after stop (workers + double-forked grandchild)", "left/trainctl", None, "<=", 0),
    ("7", "job survives daemon kill -9", "job-survives/trainctl", None, ">=", 1),
    ("7", "output capture survives daemon kill -9", "capture-complete/trainctl", None, ">=", 1),
    ("7", "exit status survives daemon kill -9", "exit-status-known/trainctl", None, ">=", 1),
    ("8", "trainctl top CPU <= 0.5x htop -d 10", "cpu-top/trainctl", "cpu-top/htop", "<=", 0.5),
]


def load(path):
    env, meas, cmds, notes = {}, {}, {}, {}
    with open(path) as f:
        for line in f:
            rec = line.rstrip("\n").split("\t")
            if rec[0] == "e":
                env[rec[1]] = rec[2]
            elif rec[0] == "m":
                values = [float(v) for v in rec[4].split()]
                meas.setdefault(rec[1], {})[rec[2]] = (rec[3], values)
            elif rec[0] == "c":
                cmds.setdefault(rec[1], []).append(rec[2])
            elif rec[0] == "n":
                notes.setdefault(rec[1], []).append(rec[2])
    return env, meas, cmds, notes


def fmt(x):
    if x is None:
        return "-"
    if x == int(x) and abs(x) >= 100:
        return f"{int(x)}"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def median(values):
    return statistics.median(values) if values else None


def find(meas, metric):
    for section in meas.values():
        if metric in section:
            return median(section[metric][1])
    return None


def section_table(out, meas):
    groups = {}
    for metric in meas:
        groups.setdefault(metric.split("/")[0], []).append(metric)
    out.append("| measurement | unit | median | min | max | runs | trainctl ÷ this |")
    out.append("|---|---|---:|---:|---:|---:|---:|")
    for group, metrics in groups.items():
        ours = median(meas[f"{group}/trainctl"][1]) if f"{group}/trainctl" in meas else None
        for metric in metrics:
            unit, values = meas[metric]
            med = median(values)
            ratio = "-"
            if ours is not None and med and not metric.endswith("/trainctl"):
                ratio = f"{ours / med:.2f}"
            out.append(f"| {metric} | {unit} | {fmt(med)} | {fmt(min(values))} | {fmt(max(values))} "
                       f"| {len(values)} | {ratio} |")


def target_rows(out, meas):
    out.append("| section | target | trainctl | reference | ratio | result |")
    out.append("|---|---|---:|---:|---:|---|")
    for section, text, metric, ref, op, limit in TARGETS:
        ours = find(meas, metric)
        theirs = find(meas, ref) if ref else None
        if ours is None or (ref and not theirs):
            out.append(f"| {section} | {text} | {fmt(ours)} | {fmt(theirs)} | - | not measured |")
            continue
        value = ours / theirs if ref else ours
        ok = value <= limit if op == "<=" else value >= limit
        ratio = f"{value:.2f}" if ref else "-"
        out.append(f"| {section} | {text} | {fmt(ours)} | {fmt(theirs)} | {ratio} | "
                   f"{'PASS' if ok else 'MISS'} |")


def main(raw, dest):
    env, meas, cmds, notes = load(raw)
    out = ["# Benchmark results", "",
           "Written by `make bench` (bench/run); every number comes from one run of the harness, "
           "on one machine, side by side with the peers. Times are wall-clock unless the unit "
           "says CPU; ratios are trainctl ÷ peer (lower is better for times, CPU and memory; "
           "higher for throughput).", "", "## Machine and versions", ""]
    for key, value in env.items():
        out.append(f"- **{key}**: {value}")
    out += ["", "## Targets", ""]
    target_rows(out, meas)
    for section, title in SECTIONS.items():
        out += ["", f"## {section}. {title}", ""]
        if section in meas:
            section_table(out, meas[section])
            out.append("")
        for note in notes.get(section, []):
            out.append(f"- {note}")
        if section in cmds:
            out += ["", "Commands:", "", "```"] + cmds[section] + ["```"]
    with open(dest, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
