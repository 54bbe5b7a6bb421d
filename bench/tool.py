#!/usr/bin/env python3
"""Small /proc and timing helpers for bench/run (nothing here is timed
against trainctl except what a subcommand says it measures).

  tool.py pids --match TEXT [--tag K=V]    live pids whose command line contains
                                            TEXT (starts with it, for "^TEXT") and
                                            whose environment holds K=V
  tool.py children PID                      direct children of PID
  tool.py pss PID...                        total PSS in KiB (smaps_rollup)
  tool.py rss PID                           VmRSS in KiB
  tool.py ticks PID...                      utime+stime of each PID, in clock ticks
  tool.py wait-count --match TEXT N SECS    wait until N live processes match TEXT
  tool.py capture DONE BYTES SECS GLOB... -- CMD...
        run CMD (a submission that returns at once), wait for the job to
        create DONE (it has written everything), then for the captured files
        to stop growing; print the seconds from CMD's start to the last
        growth (-1 if the job was not done within SECS), the bytes captured,
        and the files oldest first
  tool.py stopwatch --match TEXT SECS -- CMD...
        note the live processes matching TEXT, run CMD (a stop), and print
        the milliseconds until all of them are gone (-1 if some are still
        there after SECS) and how many are left
  tool.py kill-tag K=V [--match TEXT] [PID...]
        SIGKILL every process whose environment holds K=V (and whose command
        line matches TEXT), but our ancestors and the PIDs; print how many
"""
import glob
import os
import signal
import subprocess
import sys
import time


def live_pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def stat_fields(pid):
    """Fields after the comm of /proc/PID/stat (state first), or None."""
    text = read(f"/proc/{pid}/stat")
    if not text:
        return None
    return text[text.rindex(")") + 2:].split()


def alive(pid):
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def matching(text, tag=None):
    me = os.getpid()
    out = []
    for pid in live_pids():
        if pid == me:
            continue
        cmd = (read(f"/proc/{pid}/cmdline", "rb") or b"").replace(b"\0", b" ")
        if not (cmd.startswith(text[1:].encode()) if text.startswith("^") else text.encode() in cmd):
            continue
        if tag:
            env = read(f"/proc/{pid}/environ", "rb") or b""
            if tag.encode() not in env.split(b"\0"):
                continue
        if alive(pid):
            out.append(pid)
    return out


def ancestors():
    """This process and every process above it (the harness, its reaper)."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        fields = stat_fields(pid)
        pid = int(fields[1]) if fields else 0
    return out


def ticks(pid):
    fields = stat_fields(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0


def total_size(patterns):
    files = [f for p in patterns for f in glob.glob(p)]
    size = 0
    for f in files:
        try:
            size += os.stat(f).st_size
        except OSError:
            pass
    return size, files


def capture(args):
    sep = args.index("--")
    done, secs, patterns = args[0], float(args[2]), args[3:sep]
    cmd = args[sep + 1:]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    deadline = t0 + secs
    last_size, last_change = -1, t0
    # Until the job is done, and then until the files have been still for 1 s.
    while time.monotonic() < deadline:
        size, _ = total_size(patterns)
        now = time.monotonic()
        if size != last_size:
            last_size, last_change = size, now
        elif os.path.exists(done) and now - last_change > 1.0:
            break
        time.sleep(0.02)
    size, files = total_size(patterns)
    files.sort(key=lambda f: os.stat(f).st_mtime_ns)
    finished = os.path.exists(done)
    print(f"{last_change - t0:.3f}" if finished else "-1", size, *files)


def stopwatch(args):
    sep = args.index("--")
    text, secs = args[1], float(args[2])
    pids = matching(text)
    t0 = time.monotonic()
    subprocess.run(args[sep + 1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.monotonic() - t0 < secs:
        left = [p for p in pids if alive(p)]
        if not left:
            print(f"{(time.monotonic() - t0) * 1000:.1f} 0")
            return
        time.sleep(0.002)
    # Anything the stop left, including what the tree forked meanwhile.
    print(-1, len(set(p for p in pids if alive(p)) | set(matching(text))))


def main(argv):
    op, args = argv[1], argv[2:]
    if op == "pids":
        tag = args[args.index("--tag") + 1] if "--tag" in args else None
        print(*matching(args[args.index("--match") + 1], tag))
    elif op == "children":
        print(*[p for p in live_pids() if (f := stat_fields(p)) and f[1] == args[0] and f[0] != "Z"])
    elif op == "pss":
        kib = 0
        for pid in args:
            for line in (read(f"/proc/{pid}/smaps_rollup") or "").splitlines():
                if line.startswith("Pss:"):
                    kib += int(line.split()[1])
        print(kib)
    elif op == "rss":
        for line in (read(f"/proc/{args[0]}/status") or "").splitlines():
            if line.startswith("VmRSS:"):
                print(line.split()[1])
    elif op == "ticks":
        print(*[ticks(p) for p in args])
    elif op == "wait-count":
        text, want, secs = args[1], int(args[2]), float(args[3])
        t0 = time.monotonic()
        while len(matching(text)) < want:
            if time.monotonic() - t0 > secs:
                sys.exit(f"only {len(matching(text))} of {want} processes matching '{text}' after {secs:g} s")
            time.sleep(0.05)
    elif op == "capture":
        capture(args)
    elif op == "stopwatch":
        stopwatch(args)
    elif op == "kill-tag":
        text = args[args.index("--match") + 1] if "--match" in args else ""
        keep = ancestors() | {int(p) for p in args[1:] if p.isdigit()}
        killed = 0
        for pid in matching(text, args[0]):
            if pid not in keep:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except OSError:
                    pass
        print(killed)
    else:
        sys.exit(f"tool.py: unknown operation '{op}'")


if __name__ == "__main__":
    main(sys.argv)
