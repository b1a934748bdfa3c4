"""Reads GNU time -v output for bench/run.sh and bench/profile.sh."""
import re


def parse_time(path):
    """(wall seconds, peak RSS KiB, user+system CPU seconds) of a run."""
    txt = open(path).read()
    el = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", txt).group(1)
    secs = 0.0
    for part in el.split(":"):
        secs = secs * 60 + float(part)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", txt).group(1))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): (\S+)", txt).group(1)) for k in ("User", "System"))
    return secs, rss_kb, cpu
