"""What the benchmarks measure a subprocess and the machine with: time, CPU, peak memory of a whole
process tree, and how busy the other processes keep the CPUs."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
MB = 1e6
QUIET = 0.15  # share of the CPUs others may keep busy before a round waits for them


def tree_memory(root: int) -> tuple[int, int]:
    """Resident bytes of ``root`` and all its descendants now (fork-shared pages count in
    each), and the largest peak (VmHWM) of any one of them."""
    total, peak, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
            total += int(fields["VmRSS"].split()[0]) * 1024
            peak = max(peak, int(fields["VmHWM"].split()[0]) * 1024)
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    todo += map(int, f.read().split())
        except (OSError, ValueError, KeyError):  # exited meanwhile, or no /proc
            pass
    return total, peak


def run_cmd(cmd: list, stdout=subprocess.DEVNULL) -> dict:
    """Run ``cmd``; its seconds, CPU seconds (its own and its workers'), the peak RSS of its
    largest process and of its whole process tree, sampled every 20 ms from /proc. (wait4's
    ru_maxrss is no use here: it keeps the high-water mark of the forked benchmark process.)"""
    err = DATA / "stderr.txt"
    with open(err, "wb") as errf:
        start = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], stdout=stdout, stderr=errf)
        peak, done = [0, 0], threading.Event()

        def sample():
            while not done.wait(0.02):
                tree, largest = tree_memory(proc.pid)
                peak[0], peak[1] = max(peak[0], tree), max(peak[1], largest)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = err.read_text(errors="replace").strip()[-400:]
        raise RuntimeError(f"{' '.join(map(str, cmd[1:]))} exited {proc.returncode}: {tail}")
    return {
        "seconds": seconds,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": peak[1] / MB or None,
        "tree_rss_mb": peak[0] / MB or None,
    }


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (0 without /proc)."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:8]]  # user … softirq, not guest
    except OSError:
        return 0.0
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def cpu_busy(window: float = 0.5) -> float:
    """The share of all CPUs busy over ``window`` seconds (this process sleeps meanwhile)."""
    before = busy_seconds()
    time.sleep(window)
    return (busy_seconds() - before) / window / (os.cpu_count() or 1)


def wait_quiet(limit: float = 30) -> float:
    """Wait (up to ``limit`` s) until other processes leave the CPUs alone; how busy they were."""
    deadline = time.monotonic() + limit
    busy = cpu_busy()
    while busy > QUIET and time.monotonic() < deadline:
        time.sleep(1)
        busy = cpu_busy()
    return busy
