"""The ``ptb-env`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ptb_env.benchmarks import TINY_BENCHMARKS, list_benchmarks
from ptb_env.paths import TINY_MODEL_DIR


def _evaluate(a: argparse.Namespace) -> int:
    from ptb_env.inference import evaluate

    names = a.benchmark or TINY_BENCHMARKS
    rows = []
    for name in names:
        r = evaluate(a.model, name, a.split, limit=a.limit, batch_size=a.batch_size, backend=a.backend)
        rows.append(
            {
                "benchmark": name,
                "split": a.split,
                "score": round(r.score, 4),
                "n": r.n,
                "seconds": round(r.seconds, 1),
            }
        )
        print(f"{name:12s} {a.split:5s} score={r.score:.3f} n={r.n} ({r.seconds:.1f} s, {r.backend})")
        if a.show:
            for rec in r.records[: a.show]:
                print("   ", json.dumps(rec, ensure_ascii=False))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def _list(a: argparse.Namespace) -> int:
    from ptb_env.tasks import get_task, gym_id, list_tasks
    from ptb_env.tasks.tiny import TINY_MODELS

    models = {str(path): name for name, path in TINY_MODELS.items()}
    print(f"{'task':28s} {'gym id':42s} {'benchmark':13s} {'budget':18s} base model")
    for tid in list_tasks():
        t = get_task(tid)
        budget = f"{(t.time_limit_s or 0) / 60:g} min" + (f", {t.max_steps} steps" if t.max_steps else "")
        budget += f", {t.gpus} GPU" if t.gpus else ""
        model = models.get(t.base_model, Path(t.base_model).name) if t.world == "tiny" else t.base_model
        print(f"{tid:28s} {gym_id(tid):42s} {t.benchmark:13s} {budget:18s} {model} ({t.world})")
    return 0


def _run(a: argparse.Namespace) -> int:
    import time

    import gymnasium as gym

    import ptb_env  # noqa: F401 - registers the envs
    from ptb_env.errors import AgentNotFound
    from ptb_env.registry import agent_factory, make_agent
    from ptb_env.rollout import run_episode
    from ptb_env.tasks import gym_id

    try:
        agent_factory(a.agent)
    except AgentNotFound as err:
        print(f"error: {err}")
        return 2
    results = []
    for seed in a.seed:
        env = gym.make(
            gym_id(a.task), time_limit_s=a.time_limit, sandbox=a.sandbox, progress=False, **_budget_kwargs(a)
        )
        agent = make_agent(a.agent, env)
        t0 = time.perf_counter()

        def on_step(i: int, action, obs, info, t0: float = t0) -> None:
            if a.quiet:
                return
            text = action if isinstance(action, str) else json.dumps(action, ensure_ascii=False)
            first = (obs["error"] or obs["output"]).strip().splitlines()
            print(
                f"  [{time.perf_counter() - t0:6.1f} s] step {i:3d} {text[:90]}"
                + (f"\n      -> {first[-1][:110]}" if first else ""),
                flush=True,
            )

        print(f"episode: agent={a.agent} task={a.task} seed={seed}", flush=True)
        try:
            r = run_episode(env, agent, seed=seed, on_step=on_step, progress=a.quiet)
        finally:
            env.close()
        results.append(r)
        print(f"  -> reward {r.reward:+.4f} ({r.status}{': ' + r.reason if r.reason else ''})", flush=True)
    print()
    rows = [{k: v for k, v in vars(r).items() if k != "info"} for r in results]
    _print_results(rows)
    if len(results) > 1:
        import statistics

        rewards = [r.reward for r in results]
        print(
            f"mean reward {statistics.mean(rewards):+.4f}, std {statistics.stdev(rewards):.4f}, "
            f"min {min(rewards):+.4f}, max {max(rewards):+.4f} over {len(rewards)} seeds"
        )
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def _budget_kwargs(a: argparse.Namespace) -> dict[str, Any]:
    """The env's budget arguments from ``--budget`` and ``--compute-tflop``."""
    if a.budget == "time":
        return {}
    return {"budget": "compute"} | ({"compute_tflop": a.compute_tflop} if a.compute_tflop else {})


def _print_results(rows: list[dict]) -> None:
    """The results table of ``run`` and ``batch`` (an infra error's reason under its row)."""
    width = max([12, *(len(str(r["task"])) for r in rows)])
    print(
        f"{'agent':13s} {'task':{width}s} {'seed':>4s} {'status':18s} {'base':>6s} {'score':>6s} "
        f"{'reward':>8s} {'steps':>5s} {'wall s':>7s}"
    )
    for r in rows:
        print(
            f"{r['agent']:13s} {r['task']:{width}s} {r['seed']!s:>4s} {r['status']:18s} "
            f"{r['base_score']:6.3f} {r['score']:6.3f} {r['reward']:+8.4f} "
            f"{r['steps']:5d} {r['seconds']:7.1f}"
            + (f"\n    {r['reason']}" if r["status"] == "infra_error" else "")
        )


def _batch(a: argparse.Namespace) -> int:
    from ptb_env.distributed import grid, run_episodes, run_serial

    env_kwargs = {"sandbox": a.sandbox, **_budget_kwargs(a)}
    specs = grid(a.agent, [a.task], a.seed, time_limit_s=a.time_limit, env_kwargs=env_kwargs)
    if a.serial:
        rows = run_serial(specs, num_cpus_per_episode=a.cpus_per_episode, trajectories_dir=a.trajectories)
    else:
        rows = run_episodes(
            specs,
            num_cpus_per_episode=a.cpus_per_episode or 1,
            num_gpus_per_episode=a.gpus_per_episode,
            max_concurrency=a.max_concurrency,
            address=a.address,
            trajectories_dir=a.trajectories,
        )
    _print_results(rows)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if any(r["status"] == "infra_error" for r in rows) else 0


def _eval(a: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from ptb_env.errors import CheckpointError
    from ptb_env.grading import Grader
    from ptb_env.tasks import get_task

    grader = Grader(get_task(a.task), progress=True)
    base = grader.base_score(a.split)
    with tempfile.TemporaryDirectory(prefix="ptb-eval-") as tmp:
        ckpt = Path(tmp) / "ckpt"
        shutil.copytree(a.model, ckpt, symlinks=False)
        try:
            value, cached = grader.score_checkpoint(ckpt, a.split)
        except CheckpointError as err:
            print(f"invalid checkpoint: {err} (grades as the base model: uplift 0)")
            return 1
    score = float(value["score"])
    print(
        f"{a.task}: {a.split} score {score:.4f} (n={value['n']}), base {base:.4f}, uplift {score - base:+.4f}"
        + (" [cached]" if cached else "")
    )
    return 0


def _leaderboard(a: argparse.Namespace) -> int:
    from ptb_env.leaderboard import aggregate, format_table, read_results

    try:
        board = aggregate(read_results(a.runs_dir))
    except ValueError as err:
        print(f"error: {err}")
        return 2
    print(format_table(board))
    if a.json:
        Path(a.json).write_text(json.dumps(board, indent=2) + "\n")
    return 0


def _report(a: argparse.Namespace) -> int:
    from ptb_env.report import write_report

    out = a.out or a.runs_dir / "report.html"
    try:
        write_report(a.runs_dir, out, title=a.title, progress=not a.quiet)
    except (ValueError, ImportError) as err:
        print(f"error: {err}")
        return 2
    print(f"wrote {out}")
    return 0


def _mcp(a: argparse.Namespace) -> int:
    """Serve one episode over MCP (stdio); every message goes to stderr: stdout is the JSON-RPC stream."""
    try:
        from ptb_env.integrations.mcp_server import serve

        return serve(
            a.task,
            seed=a.seed,
            **({"max_output_chars": a.max_output_chars} if a.max_output_chars else {}),
            **_served_env_kwargs(a),
        )
    except (ImportError, KeyError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _serve(a: argparse.Namespace) -> int:
    """Serve episodes over OpenEnv (WebSocket sessions) until SIGINT or SIGTERM."""
    try:
        from ptb_env.integrations.openenv_server import TOKEN_ENV, serve

        return serve(
            a.task,
            host=a.host,
            port=a.port,
            token=a.token or os.environ.get(TOKEN_ENV) or None,
            max_concurrent_envs=a.max_sessions,
            idle_timeout_s=a.idle_timeout or None,
            **_served_env_kwargs(a),
        )
    except (ImportError, KeyError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _served_env_args(p: argparse.ArgumentParser, workspaces: str) -> None:
    """The env's options of ``mcp`` and ``serve``: task, budget, sandbox, workspace root."""
    p.add_argument("--task", default="tiny-arith")
    p.add_argument("--time-limit", type=float, default=None, help="seconds (default: the task's budget)")
    p.add_argument("--sandbox", default="bwrap", choices=["bwrap", "none"])
    _budget_args(p)
    p.add_argument("--workspace-root", type=Path, default=None, help=f"parent of the {workspaces}")


def _served_env_kwargs(a: argparse.Namespace) -> dict[str, Any]:
    """The env's keywords from :func:`_served_env_args`' options (the task aside)."""
    kwargs = {"time_limit_s": a.time_limit, "sandbox": a.sandbox, "workspace_root": a.workspace_root}
    return kwargs | _budget_kwargs(a)


def _budget_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--budget",
        default="time",
        choices=["time", "compute"],
        help="wall-clock seconds (default) or TFLOP, the same on any machine (ptb_env.compute)",
    )
    p.add_argument("--compute-tflop", type=float, default=None, help="TFLOP (default: the task's)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ptb-env", description="LLM post-training as an RL environment.")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list the registered tasks")
    ls.set_defaults(func=_list)
    run = sub.add_parser("run", help="run episodes of a baseline agent and print the rewards")
    run.add_argument(
        "--agent",
        default="scripted-sft",
        help="a registered agent (ptb_env.registry): noop, random, scripted-sft, search, expert, or llm (an "
        "OpenAI-compatible endpoint: OPENAI_BASE_URL, OPENAI_API_KEY, PTB_LLM_MODEL)",
    )
    run.add_argument("--task", default="tiny-arith")
    run.add_argument("--seed", type=int, nargs="+", default=[0], help="one episode per seed")
    run.add_argument("--time-limit", type=float, default=None, help="seconds (default: the task's budget)")
    run.add_argument("--sandbox", default="bwrap", choices=["bwrap", "none"])
    _budget_args(run)
    run.add_argument("--quiet", action="store_true", help="print only the results")
    run.add_argument("--json", help="also write the results to this JSON file")
    run.set_defaults(func=_run)
    bt = sub.add_parser(
        "batch", help="run agent x seed episodes on Ray, one actor each (or --serial); print the results"
    )
    bt.add_argument("--agent", nargs="+", default=["scripted-sft"], help="one or more registered agents")
    bt.add_argument("--task", default="tiny-arith")
    bt.add_argument("--seed", type=int, nargs="+", default=[0], help="one episode per agent and seed")
    bt.add_argument("--time-limit", type=float, default=None, help="seconds (default: the task's budget)")
    bt.add_argument("--sandbox", default="bwrap", choices=["bwrap", "none"])
    _budget_args(bt)
    bt.add_argument("--cpus-per-episode", type=float, default=None, help="CPUs per episode (Ray default: 1)")
    bt.add_argument("--gpus-per-episode", type=float, default=0)
    bt.add_argument("--max-concurrency", type=int, default=None, help="episodes at once (default: what fits)")
    bt.add_argument(
        "--address", default=None, help='Ray cluster: "auto" or "ray://host:10001" (default: a local one)'
    )
    bt.add_argument("--serial", action="store_true", help="run the episodes one after another here (no Ray)")
    bt.add_argument("--trajectories", default=None, help="write each episode's JSONL trajectory here")
    bt.add_argument("--json", help="also write the result rows to this JSON file")
    bt.set_defaults(func=_batch)
    gr = sub.add_parser("eval", help="grade a checkpoint for a task as the env would (validate, hidden test)")
    gr.add_argument("--task", default="tiny-arith")
    gr.add_argument("--model", type=Path, required=True, help="checkpoint directory")
    gr.add_argument("--split", default="test", choices=["dev", "test"])
    gr.set_defaults(func=_eval)
    ev = sub.add_parser(
        "evaluate", help="raw benchmark scores of a model dir (no validation; all benchmarks)"
    )
    ev.add_argument("--model", type=Path, default=TINY_MODEL_DIR, help="HF model dir (default: tiny base)")
    ev.add_argument(
        "--benchmark",
        action="append",
        choices=list_benchmarks(),
        help="benchmark (repeatable; default: the tiny ones)",
    )
    ev.add_argument("--split", default="test", choices=["train", "dev", "test"])
    ev.add_argument("--limit", type=int, default=None, help="first N items only")
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument(
        "--backend", default="auto", choices=["auto", "transformers", "vllm"],
        help="generation backend (auto: vLLM when installed and a GPU is present)",
    )  # fmt: skip
    ev.add_argument("--show", type=int, default=0, help="print the first N per-item records")
    ev.add_argument("--json", help="also write the scores to this JSON file")
    ev.set_defaults(func=_evaluate)
    lb = sub.add_parser("leaderboard", help="aggregate results as PostTrainBench does (weighted overall)")
    lb.add_argument("runs_dir", type=Path, help="directory of result files (ptb-env run --json)")
    lb.add_argument("--json", help="also write the leaderboard to this JSON file")
    lb.set_defaults(func=_leaderboard)
    rp = sub.add_parser("report", help="HTML report of trajectories recorded with RecordTrajectory")
    rp.add_argument("runs_dir", type=Path, help="directory of trajectory files (searched recursively)")
    rp.add_argument("-o", "--out", type=Path, default=None, help="HTML file (default: RUNS_DIR/report.html)")
    rp.add_argument("--title", default=None, help="page title (default: 'PostTrain runs: RUNS_DIR')")
    rp.add_argument("--quiet", action="store_true", help="no progress bars")
    rp.set_defaults(func=_report)
    mc = sub.add_parser("mcp", help="serve one episode as an MCP server over stdio (for coding-agent CLIs)")
    _served_env_args(mc, "episode's workspace")
    mc.add_argument("--seed", type=int, default=None, help="seed of the episode (env.reset)")
    mc.add_argument(
        "--max-output-chars", type=int, default=None, help="characters of tool output shown (default: all)"
    )
    mc.set_defaults(func=_mcp)
    sv = sub.add_parser("serve", help="serve episodes as an OpenEnv server (one per WebSocket session)")
    _served_env_args(sv, "sessions' workspaces")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (not loopback: --token required)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--token", default=None, help="bearer token clients must send (default: $PTB_ENV_TOKEN)")
    sv.add_argument("--max-sessions", type=int, default=2, help="episodes at once (max_concurrent_envs)")
    sv.add_argument(
        "--idle-timeout",
        type=float,
        default=900.0,
        help="seconds without reset, step or tool call before a session's episode is discarded (0: never)",
    )
    sv.set_defaults(func=_serve)
    a = parser.parse_args(argv)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
