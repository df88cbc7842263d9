#!/usr/bin/env bash
# One short episode of a real PostTrainBench task, for a machine with a GPU and the models cached.
#
#   pip install torch "ptb-env[vllm,ptb]"     # a CUDA torch and vLLM
#   hf download Qwen/Qwen3-1.7B-Base && hf download --repo-type dataset openai/gsm8k
#   HF_HUB_OFFLINE=1 bash examples/gpu_smoke.sh
#
# The episode: reset (base score on the full test split), `nvidia-smi` in the sandbox, training data
# from the benchmark's train split written into the workspace, a short `train` job, a dev
# `evaluate`, `submit`. It prints each step, the reward and the timings, and exits non-zero unless
# the episode ends `ok`. Settings (environment variables):
#   PTB_SMOKE_BENCHMARK  gsm8k               a PostTrainBench benchmark
#   PTB_SMOKE_MODEL      Qwen3-1.7B-Base     a PostTrainBench base model name
#   PTB_SMOKE_MINUTES    30                  the episode's wall-clock budget
#   PTB_SMOKE_EXAMPLES   512                 training examples
#   PTB_SMOKE_STEPS      40                  optimizer steps
#   PTB_SMOKE_BASE_MODEL (unset)             a local model directory instead of the hub model
#   PTB_SMOKE_SANDBOX    bwrap               bwrap or none
# The test suite runs this script on CPU with the tiny model and fixture data (tests/test_gpu_smoke.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
exec "$PYTHON" - <<'EOF'
import json, os, sys, time

import gymnasium as gym

import ptb_env  # noqa: F401 - registers the envs
from ptb_agents import run_episode
from ptb_agents.steps import PlanAgent, evaluate, train_and_wait
from ptb_env.benchmarks import get_benchmark
from ptb_env.inference import has_gpu, is_vllm_available
from ptb_env.tasks import ptb_task

e = os.environ.get
bench, model = e("PTB_SMOKE_BENCHMARK", "gsm8k"), e("PTB_SMOKE_MODEL", "Qwen3-1.7B-Base")
minutes = float(e("PTB_SMOKE_MINUTES", "30"))
task = ptb_task(bench, model, hours=minutes / 60, base_model=e("PTB_SMOKE_BASE_MODEL"))
print(f"task {task.id}: gpu={has_gpu()} vllm={is_vllm_available()} backend={task.inference_backend}", flush=True)
rows = [it.chat_example() for it in get_benchmark(bench).generate(int(e("PTB_SMOKE_EXAMPLES", "512")))]


class Smoke(PlanAgent):
    """nvidia-smi, write the training data, a short train job, a dev check, submit."""

    name = "gpu-smoke"

    def _steps(self):
        yield  # primed by reset
        yield {"tool": "bash", "args": {"command": "nvidia-smi -L || echo 'no GPU visible'; timer"}}
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        yield {"tool": "write_file", "args": {"path": "data/train.jsonl", "content": data}}
        train = {"data": "data/train.jsonl", "max_steps": int(e("PTB_SMOKE_STEPS", "40")), "batch_size": 8,
                 "learning_rate": 1e-5, "max_length": 1024}
        yield from train_and_wait(train)
        yield from evaluate("final_model", int(e("PTB_SMOKE_DEV", "50")))
        yield {"tool": "submit", "args": {}}


def show(i, action, obs, info):
    text = (obs["error"] or obs["output"]).strip().replace("\n", " | ")
    print(f"[{time.perf_counter() - t0:7.1f} s] {action['tool']}: {text[-300:]}", flush=True)


t0 = time.perf_counter()
env = gym.make("PostTrain-v0", task=task, sandbox=e("PTB_SMOKE_SANDBOX", "bwrap"), progress=True)
try:
    r = run_episode(env, Smoke(), seed=0, on_step=show)
finally:
    env.close()
print(f"status {r.status} reward {r.reward:+.4f} score {r.score:.4f} base {r.base_score:.4f} "
      f"steps {r.steps} ({r.seconds:.0f} s){': ' + r.reason if r.reason else ''}", flush=True)
sys.exit(0 if r.status == "ok" else 1)
EOF
