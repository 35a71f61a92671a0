"""`python -m bench.pyspy_top FILE [N]`: the top frames of a py-spy raw profile (`BENCH_PYSPY=DIR make bench`
runs the service under `py-spy record --format raw`): each function's share of the samples, inclusive (on the
stack) and self (at its top), over the samples py-spy took while the service was busy (it records no idle
ones), leaving out the imports at its start and the event loop's waits in epoll."""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# the event loop waiting for the sockets (py-spy counts some of it as active)
WAITING = ("EpollSelector.select ", "select ", "poll ")



def top(path: Path, count: int = 15) -> str:
    inclusive, own, total, imports, waiting = Counter(), Counter(), 0, 0, 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        frames = [frame for frame in frames if not frame.startswith("process ") and not frame.startswith("thread ")]
        n = int(samples)
        total += n
        if any(frame.startswith("_find_and_load ") for frame in frames):
            imports += n
            continue
        if frames and frames[-1].startswith(WAITING):
            waiting += n
            continue
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            own[frames[-1]] += n
    busy = total - imports - waiting
    lines = [f"{path.name}: {total} samples, {imports} in imports, {waiting} waiting in epoll; shares of the "
             f"other {busy}",
             "inclusive:"]
    lines += [f"  {n / max(busy, 1):6.1%}  {frame}" for frame, n in inclusive.most_common(count)]
    lines.append("self:")
    lines += [f"  {n / max(busy, 1):6.1%}  {frame}" for frame, n in own.most_common(count)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(top(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 15))
