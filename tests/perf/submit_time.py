"""Seconds of ``reset`` and of ``submit`` (an empty ``final_model/``: export, scan, no scoring).

    .venv/bin/python tests/perf/submit_time.py

The grading overhead an episode pays besides scoring. Run it from a clone inside the host's
``/tmp`` and from one outside to compare: before commit 0290915 the sandbox's scratch export
copied and scanned a venv that lies in ``/tmp`` (135 s against 0.7 s, measured on 2 cores).
"""

from __future__ import annotations

import tempfile
import time

from ptb_env.env import PostTrainEnv


def main() -> None:
    env = PostTrainEnv("tiny-arith", workspace_root=tempfile.mkdtemp(prefix="ptb-submit-time-"))
    try:
        t = time.perf_counter()
        env.reset(seed=0)
        print(f"reset: {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        _, _, _, _, info = env.step({"tool": "submit", "args": {}})
        print(f"submit: {time.perf_counter() - t:.2f} s ({info['status']})")
    finally:
        env.close()


if __name__ == "__main__":
    main()
