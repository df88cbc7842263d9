"""PostTrain episodes as environments of TRL's GRPO trainer (``environment_factory`` mode).

TRL 1.16's ``GRPOTrainer(environment_factory=...)`` (experimental there) makes one
environment instance per rollout, from a zero-argument factory, and pools and reuses
the instances across batches. Verified in ``trl/trainer/grpo_trainer.py`` of 1.16.0:

- ``reset(**row)`` is called with the dataset row (every column, ``prompt`` included)
  before generation; a returned string is appended to the last user message;
- every public method of the class other than ``reset`` and ``get_reward`` is a tool:
  its name, type hints and Google-style docstring become the JSON schema rendered into
  the prompt by the chat template, and a parsed tool call runs
  ``method(**arguments)``; the return value, as a string, is the tool message;
- ``get_reward()`` (no arguments) is called once per finished rollout and is added as
  a reward source named after the class; ``None`` means "no reward" (NaN, ignored).

So :class:`PostTrainToolEnv` runs one PostTrain episode per rollout: ``reset`` starts it
and returns the task card, each tool method is one ``env.step``, and ``get_reward``
grades the episode (submitting it first when the policy never did) and returns its
reward, the benchmark uplift of ``final_model/``. Then the episode's processes and
workspace are released; :meth:`PostTrainEnvFactory.close` releases what is left.

>>> from ptb_env.integrations.trl import PostTrainEnvFactory, make_grpo_dataset  # doctest: +SKIP
>>> factory = PostTrainEnvFactory("tiny-arith", time_limit_s=120, max_steps=8)  # doctest: +SKIP
>>> trainer = GRPOTrainer(model, args=config, train_dataset=make_grpo_dataset("tiny-arith", 8),
...                       environment_factory=factory)  # doctest: +SKIP

TRL, datasets and transformers are imported lazily, inside the functions that need them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ptb_env.rollout import EpisodeResult
from ptb_env.tasks import DEFAULT_TASK, get_task
from ptb_env.tasks.card import card_sections, card_without
from ptb_env.text import truncate_middle
from ptb_env.tools import default_tools

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

    from ptb_env.env import PostTrainEnv

TRL_INSTALL = 'pip install "ptb-env[trl]"'
INSTRUCTION = (
    "You are an autonomous agent. Post-train the base model described below, using only the "
    "tools you are given (call them in the format the system prompt shows). When the checkpoint "
    "you want graded is in final_model/, call submit."
)
"""The user message of every prompt; ``reset`` appends the task card to it."""
MAX_OUTPUT_CHARS = 4000
"""Characters of a tool's output shown to the policy by default (head and tail kept)."""
CardMode = Literal["full", "brief"]


@dataclass
class EpisodeRecord(EpisodeResult):
    """What one rollout's episode came to (kept by :class:`PostTrainEnvFactory`).

    The rollout's :class:`~ptb_env.rollout.EpisodeResult` (``agent`` is ``"policy"``; ``steps``
    counts the tool calls that reached the env, a grading ``submit`` added by ``get_reward``
    included; ``info`` is left empty) plus what the policy did.
    """

    tools: list[str] = field(default_factory=list)
    """Names of the tools the policy called, in order."""
    submitted_by_policy: bool = False


class PostTrainToolEnv:
    """One PostTrain episode per GRPO rollout; its public methods are the policy's tools.

    Args:
        task: Task id of the episodes (a dataset row's ``task`` column overrides it).
        task_card: ``"full"``: the env's task card without its tool list (the tools reach the
            policy as schemas); ``"brief"``: only its opening (task, base model, budget), for
            policies with a short context.
        max_output_chars: Characters of each tool output shown to the policy (head and tail).
        on_graded: Called with the :class:`EpisodeRecord` of every graded episode.
        **env_kwargs: Keywords of ``PostTrainEnv`` (``time_limit_s``, ``max_steps``,
            ``sandbox``, ``reward_mode``, ``on_grader_error``, ...).

    Every public method is exposed to the policy as a tool, so helpers here are private;
    release everything with ``_close()`` (or use the instance as a context manager).
    """

    def __init__(
        self,
        task: str = DEFAULT_TASK,
        *,
        task_card: CardMode = "full",
        max_output_chars: int = MAX_OUTPUT_CHARS,
        on_graded: Callable[[EpisodeRecord], None] | None = None,
        **env_kwargs: Any,
    ) -> None:
        if max_output_chars < 100:
            raise ValueError(f"Expect max_output_chars >= 100, actually got {max_output_chars}.")
        if task_card not in ("full", "brief"):
            raise ValueError(f"Expect task_card 'full' or 'brief', actually got {task_card!r}.")
        self._card_mode = task_card
        from ptb_env.env import PostTrainEnv

        self._env_kwargs = env_kwargs
        self._max_output_chars = max_output_chars
        self._on_graded = on_graded
        self._env: PostTrainEnv | None = PostTrainEnv(task, **env_kwargs)  # bad keywords fail here
        self._task = self._env.task.id
        self._running = False
        self._seed: int | None = None
        self._return = 0.0
        self._info: dict[str, Any] = {}
        self._tools_called: list[str] = []
        self._steps = 0
        self._submitted = False
        self._truncated = False
        self._t0 = 0.0
        self.last_record: EpisodeRecord | None = None
        """The record of the last graded episode (``None`` before the first)."""

    # -- TRL protocol --------------------------------------------------------
    def reset(self, task: str | None = None, seed: int | None = None, **row: Any) -> str:
        """Start a new episode (the previous one, if still open, is closed ungraded).

        TRL passes the dataset row as keywords: ``task`` and ``seed`` are used, the other
        columns (``prompt``, ...) ignored. Returns the task card, which TRL appends to the
        prompt's last user message.
        """
        from ptb_env.env import PostTrainEnv

        task_id = self._task if task is None else get_task(task).id
        if self._env is not None and self._env.task.id != task_id:
            self._env.close()
            self._env = None
        if self._env is None:
            self._env = PostTrainEnv(task_id, **self._env_kwargs)
        self._seed = None if seed is None else int(seed)
        _, info = self._env.reset(seed=self._seed)
        self._running, self._return, self._info = True, 0.0, {}
        self._tools_called, self._steps, self._submitted, self._truncated = [], 0, False, False
        self._t0 = time.perf_counter()
        return policy_card(info["task_card"], self._card_mode)

    def get_reward(self) -> float | None:
        """Grade the episode and return its reward; ``None`` for an infrastructure error.

        If the policy has not submitted and the budget has not run out, the episode is
        submitted here, so every rollout gets the real uplift of what it left in
        ``final_model/`` (nothing there grades as the base model: uplift 0). Then the
        episode's processes and workspace are released.
        """
        env = self._env
        if env is None or (not self._running and not self._info):
            raise RuntimeError("get_reward() without an episode: call reset() first (once per reward).")
        if self._running:
            self._step("submit", {}, by_policy=False)
        info = self._info
        record = EpisodeRecord.from_info(
            info,
            agent="policy",
            task=env.task.id,
            seed=self._seed,
            reward=self._return,
            steps=self._steps,
            seconds=time.perf_counter() - self._t0,
            terminated=not self._truncated,
            truncated=self._truncated,
            tools=list(self._tools_called),
            submitted_by_policy=self._submitted,
        )
        record.info = {}  # the record is kept per rollout: not the whole last info
        self.last_record = record
        self._info = {}
        env.close()  # kill the episode's processes, remove its workspace; reset() starts anew
        if self._on_graded is not None:
            self._on_graded(record)
        return None if record.status == "infra_error" else record.reward

    # -- tools (mirror PostTrainEnv's; docstrings are set from its schemas below) --------
    def bash(self, command: str, timeout: float | None = None) -> str:
        return self._call("bash", command=command, timeout=timeout)

    def job_start(self, command: str) -> str:
        return self._call("job_start", command=command)

    def job_status(self, job_id: int | None = None) -> str:
        return self._call("job_status", job_id=job_id)

    def job_logs(self, job_id: int, chars: int | None = None) -> str:
        return self._call("job_logs", job_id=job_id, chars=chars)

    def job_kill(self, job_id: int) -> str:
        return self._call("job_kill", job_id=job_id)

    def wait(self, job_id: int | None = None, seconds: float | None = None) -> str:
        return self._call("wait", job_id=job_id, seconds=seconds)

    def read_file(self, path: str, offset: int | None = None, max_chars: int | None = None) -> str:
        return self._call("read_file", path=path, offset=offset, max_chars=max_chars)

    def write_file(self, path: str, content: str, append: bool | None = None) -> str:
        return self._call("write_file", path=path, content=content, append=append)

    def train(
        self,
        data: str,
        out: str | None = None,
        init: str | None = None,
        learning_rate: float | None = None,
        epochs: float | None = None,
        max_steps: int | None = None,
        batch_size: int | None = None,
        max_length: int | None = None,
        warmup_ratio: float | None = None,
        weight_decay: float | None = None,
        max_seconds: float | None = None,
        seed: int | None = None,
        schedule: str | None = None,
        save_fractions: list[float] | None = None,
        save_every_s: float | None = None,
        lora_r: int | None = None,
        lora_alpha: int | None = None,
        lora_dropout: float | None = None,
        max_tflop: float | None = None,
    ) -> str:
        return self._call(
            "train",
            data=data,
            out=out,
            init=init,
            learning_rate=learning_rate,
            epochs=epochs,
            max_steps=max_steps,
            batch_size=batch_size,
            max_length=max_length,
            warmup_ratio=warmup_ratio,
            weight_decay=weight_decay,
            max_seconds=max_seconds,
            seed=seed,
            schedule=schedule,
            save_fractions=save_fractions,
            save_every_s=save_every_s,
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            max_tflop=max_tflop,
        )

    def evaluate(self, model: str | None = None, limit: int | None = None, split: str | None = None) -> str:
        return self._call("evaluate", model=model, limit=limit, split=split)

    def submit(self) -> str:
        return self._call("submit")

    # -- internals -----------------------------------------------------------
    def _call(self, tool: str, **args: Any) -> str:
        """Run one tool call in the episode; the text the policy sees back."""
        if self._env is None or self._env.workspace is None:
            raise RuntimeError(f"{tool}() without an episode: call reset() first.")
        self._tools_called.append(tool)
        if not self._running:
            return "The episode is over; final_model/ has been graded. Do not call more tools."
        obs = self._step(tool, {k: v for k, v in args.items() if v is not None})
        over = None if self._running else ("you submitted" if self._submitted else "the budget ran out")
        return tool_message(
            obs["output"],
            obs["error"],
            obs["budget"],
            float(obs["best_dev_score"]),
            over,
            self._max_output_chars,
        )

    def _step(self, tool: str, args: dict[str, Any], by_policy: bool = True) -> Mapping[str, Any]:
        assert self._env is not None
        obs, reward, terminated, truncated, info = self._env.step({"tool": tool, "args": args})
        self._steps += 1
        self._return += reward
        if terminated or truncated:
            self._running = False
            self._submitted, self._truncated, self._info = terminated and by_policy, truncated, info
        return obs

    def _close(self) -> None:
        """Kill the episode's processes and remove its workspace (idempotent; ``reset`` reopens)."""
        self._running = False
        if self._env is not None:
            self._env.close()

    def __enter__(self) -> PostTrainToolEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()


def tool_message(
    output: str,
    error: str,
    budget: Mapping[str, Any],
    best_dev_score: float,
    over: str | None,
    max_output_chars: int = MAX_OUTPUT_CHARS,
) -> str:
    """The text a policy sees back from one tool call: the output (head and tail), the error,
    then the budget left and the best dev score, or, when the episode ended, why (``over``:
    ``"you submitted"`` or ``"the budget ran out"``).

    One renderer for the rollouts (:class:`PostTrainToolEnv`) and the demonstrations a policy
    is cloned from (``ptb_agents.bc``), so both read alike.
    """
    text = truncate_middle(output.rstrip(), max_output_chars)
    if error:
        text += f"\n[error] {error}"
    if over is not None:
        return f"{text}\n[episode over: {over}; final_model/ is graded]".lstrip()
    left = f"{float(budget['seconds_left']):.0f} s, {float(budget['steps_left']):g} tool calls"
    if math.isfinite(compute := float(budget.get("compute_left", math.inf))):
        left = f"{compute:.4g} TFLOP, {left}"
    left += f", {float(budget['dev_evals_left']):g} dev evaluations left"
    dev = "" if math.isnan(best_dev_score) else f"; best dev score {best_dev_score:.4f}"
    return f"{text}\n[budget] {left}{dev}".lstrip()


def policy_card(task_card: str, mode: CardMode) -> str:
    """What ``reset`` appends to the prompt: the task card without its tool list (``"full"``) or
    its opening only (``"brief"``), after a blank line."""
    intro, _ = card_sections(task_card)
    card = intro if mode == "brief" else card_without(task_card, "Tools")
    return f"\n\n{card.strip()}"


def tool_docstring(name: str, args: Iterable[str] | None = None) -> str:
    """A Google-style docstring for tool ``name``, from the env's own schema (one source of truth);
    ``args``: only these of its arguments (for a method that takes fewer)."""
    tool = default_tools()[name]
    lines = [tool.description]
    props = tool.parameters.get("properties", {})
    if args is not None:
        props = {a: props[a] for a in args}
    if props:
        lines += ["", "Args:"]
        lines += [f"    {arg}: {spec.get('description', arg)}" for arg, spec in props.items()]
    return "\n".join(lines)


TOOL_NAMES: tuple[str, ...] = tuple(default_tools())
"""The env's tools, each a method of :class:`PostTrainToolEnv`."""
for _name in TOOL_NAMES:
    getattr(PostTrainToolEnv, _name).__doc__ = tool_docstring(_name)
del _name


def tool_env_class(tools: Iterable[str]) -> type[PostTrainToolEnv]:
    """A :class:`PostTrainToolEnv` that exposes only ``tools`` to the policy.

    TRL turns every public method into a tool; the subclass hides the others by setting
    them to ``None``. ``get_reward`` still submits an episode the policy did not.
    """
    keep = list(dict.fromkeys(tools))
    unknown = [t for t in keep if t not in TOOL_NAMES]
    if unknown or not keep:
        raise ValueError(f"Expect tools among {list(TOOL_NAMES)}, actually got {keep or 'none'}.")
    hidden: dict[str, Any] = {t: None for t in TOOL_NAMES if t not in keep}
    return type(PostTrainToolEnv.__name__, (PostTrainToolEnv,), {**hidden, "__module__": __name__})


class PostTrainEnvFactory:
    """The ``environment_factory`` to pass to ``GRPOTrainer``: builds and tracks the rollout envs.

    Args:
        task: Default task of the episodes (a dataset row's ``task`` overrides it).
        tools: The tools the policy gets (default: all of the env's); fewer tools make a
            shorter prompt (see :func:`tool_env_class`).
        env_class: The rollout env's class instead (a subclass of :class:`PostTrainToolEnv`,
            e.g. with narrower tool signatures: ``ptb_agents.bc.policy_env_class``); not with
            ``tools``.
        task_card: ``"full"`` or ``"brief"`` (see :class:`PostTrainToolEnv`).
        max_output_chars: Characters of each tool output shown to the policy.
        **env_kwargs: Keywords of ``PostTrainEnv`` for every episode (tiny budgets for tests:
            ``time_limit_s=60, max_steps=4``).

    ``episodes`` collects the :class:`EpisodeRecord` of every graded rollout, in order.
    ``close()`` (or leaving a ``with`` block) releases every env it made.
    """

    def __init__(
        self,
        task: str = DEFAULT_TASK,
        *,
        tools: Iterable[str] | None = None,
        env_class: type[PostTrainToolEnv] | None = None,
        task_card: CardMode = "full",
        max_output_chars: int = MAX_OUTPUT_CHARS,
        **env_kwargs: Any,
    ) -> None:
        self.task = get_task(task).id
        if env_class is not None and tools is not None:
            raise ValueError("Pass `tools` or `env_class`, not both (the class decides its tools).")
        if env_class is not None and not (
            isinstance(env_class, type) and issubclass(env_class, PostTrainToolEnv)
        ):
            raise ValueError(f"Expect env_class a subclass of PostTrainToolEnv, actually got {env_class!r}.")
        self.env_class = env_class or (PostTrainToolEnv if tools is None else tool_env_class(tools))
        self.kwargs = {"task_card": task_card, "max_output_chars": max_output_chars, **env_kwargs}
        self.env_class(self.task, **self.kwargs)  # bad keywords fail here, not at the first rollout
        self.episodes: list[EpisodeRecord] = []
        self.envs: list[PostTrainToolEnv] = []

    def __call__(self) -> PostTrainToolEnv:
        env = self.env_class(self.task, on_graded=self.episodes.append, **self.kwargs)
        self.envs.append(env)
        return env

    def close(self) -> None:
        """Release every env made so far (idempotent)."""
        for env in self.envs:
            env._close()

    def __enter__(self) -> PostTrainEnvFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_grpo_dataset(
    task: str = DEFAULT_TASK, n: int = 8, *, seed: int = 0, instruction: str = INSTRUCTION
) -> Dataset:
    """``n`` conversational prompts for ``GRPOTrainer``, one per episode seed.

    Columns: ``prompt`` (one user message: ``instruction``; ``reset`` appends the task
    card), ``task`` and ``seed`` (passed to ``PostTrainToolEnv.reset``). Each row is
    expanded into ``num_generations`` rollouts by the trainer.
    """
    if n < 1:
        raise ValueError(f"Expect n >= 1 prompts, actually got {n}.")
    task_id = get_task(task).id
    try:
        from datasets import Dataset
    except ImportError as err:
        raise ImportError(f"make_grpo_dataset needs the `datasets` package: {TRL_INSTALL}") from err
    rows = [
        {"prompt": [{"role": "user", "content": instruction}], "task": task_id, "seed": seed + i}
        for i in range(n)
    ]
    return Dataset.from_list(rows)


def step_timer(on_step: Callable[[int, float], None] | None = None) -> Any:
    """A ``TrainerCallback`` that keeps the wall time of each optimizer step (generation, tool
    calls, grading and update) in its ``seconds`` list; ``on_step(step, seconds)`` is called after
    each (e.g. to print the step's rollouts)."""
    try:
        from transformers import TrainerCallback
    except ImportError as err:
        raise ImportError(f"step_timer needs transformers: {TRL_INSTALL}") from err

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._t0 = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.seconds.append(time.perf_counter() - self._t0)
            if on_step is not None:
                on_step(len(self.seconds), self.seconds[-1])

    return StepTimer()


def tool_calling_tokenizer(path: str) -> PreTrainedTokenizerBase:
    """The tokenizer at ``path``, with a chat template TRL can run tool calls through.

    A base model's template often cannot render tool calls (the tiny base model's only
    renders ``role`` and ``content``). Then, if the tokenizer has Qwen3's chat tokens
    (``<|im_start|>``, ``<|im_end|>``, ``<tool_call>``, ``</tool_call>``), TRL's own copy of
    the Qwen3 template is set: ``GRPOTrainer`` recognizes it, parses ``<tool_call>`` JSON
    from completions and swaps in its prefix-preserving training variant. Otherwise it
    raises, naming the cure.
    """
    try:
        from transformers import AutoTokenizer
        from trl.chat_template_utils import qwen3_chat_template, supports_tool_calling
    except ImportError as err:
        raise ImportError(f"tool_calling_tokenizer needs TRL: {TRL_INSTALL}") from err
    tokenizer = AutoTokenizer.from_pretrained(path)
    if supports_tool_calling(tokenizer):
        return tokenizer
    vocab = tokenizer.get_vocab()
    missing = [t for t in ("<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>") if t not in vocab]
    if missing:
        raise ValueError(
            f"The chat template of {path} cannot render tool calls and the tokenizer lacks {missing}, so the "
            "Qwen3 tool-calling template cannot stand in. Set a tool-calling chat template (and, for TRL, a "
            "`response_template`) on the tokenizer yourself and pass it as `processing_class`."
        )
    tokenizer.chat_template = qwen3_chat_template
    return tokenizer
