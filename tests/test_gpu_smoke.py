"""examples/gpu_smoke.sh runs a PostTrainBench task end to end; here on CPU with the tiny model.

The task is ``gsm8k/Qwen3-1.7B-Base`` with two substitutions that a GPU machine does not make:
the base model is the tiny model (``PTB_SMOKE_BASE_MODEL``) and the GSM8K mirror is written
here, in the real file format, with word problems of the tiny world (so the split is big
enough to hold out 200 dev problems and still train). Everything else (task spec, forced
qwen3 template, loaders, sandbox, grading) is the suite's own code path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ptb_env.paths import TINY_MODEL_DIR

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_smoke_script_runs_a_ptb_task_on_cpu(tmp_path, write_gsm8k_mirror):
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "PTB_ENV_DATA_DIR": str(write_gsm8k_mirror(tmp_path / "hub")),
        "PTB_SMOKE_BASE_MODEL": str(TINY_MODEL_DIR),
        "PTB_SMOKE_MINUTES": "4",
        "PTB_SMOKE_EXAMPLES": "128",
        "PTB_SMOKE_STEPS": "8",
        "PTB_SMOKE_DEV": "8",
        "OMP_NUM_THREADS": "2",
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "examples" / "gpu_smoke.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr[-3000:]
    assert proc.returncode == 0, out
    assert "backend=auto" in out and "gpu=False" in out
    for tool in ("bash", "write_file", "train", "wait", "evaluate", "submit"):
        assert f"] {tool}:" in out, (tool, out)
    assert "dev score of final_model" in out and "status ok" in out, out


def test_mirror_helper_writes_the_real_columns(tmp_path, write_gsm8k_mirror):
    from ptb_env.benchmarks.gsm8k import GSM8K

    bench = GSM8K(data_dir=write_gsm8k_mirror(tmp_path, n_train=210, n_test=3))
    assert len(bench.items("dev")) == 200 and len(bench.items("train")) == 10
    item = bench.items("test")[0]
    assert bench.score(item, item.target) == 1.0
    assert json.loads(json.dumps(item.to_json()))["answer"] == item.answer
