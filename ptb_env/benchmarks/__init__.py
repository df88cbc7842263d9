"""Benchmarks: the protocol, the tiny synthetic benchmarks and the registry."""

from __future__ import annotations

from collections.abc import Callable

from ptb_env.benchmarks.base import SPLITS, Benchmark, Item
from ptb_env.errors import BenchmarkNotFound
from ptb_env.paths import PRIVATE_DIR, PUBLIC_DATA_DIR


def _tiny_arith() -> Benchmark:
    from ptb_env.benchmarks.arith import TinyArith

    return TinyArith(PUBLIC_DATA_DIR, PRIVATE_DIR)


def _tiny_arith_v2() -> Benchmark:
    from ptb_env.benchmarks.arith import TinyArithV2

    return TinyArithV2(PUBLIC_DATA_DIR, PRIVATE_DIR)


def _tiny_arith_v3() -> Benchmark:
    from ptb_env.benchmarks.arith import TinyArithV3

    return TinyArithV3(PUBLIC_DATA_DIR, PRIVATE_DIR)


def _tiny_tools() -> Benchmark:
    from ptb_env.benchmarks.tools import TinyTools

    return TinyTools(PUBLIC_DATA_DIR, PRIVATE_DIR)


def _tiny_tools_v2() -> Benchmark:
    from ptb_env.benchmarks.tools import TinyToolsV2

    return TinyToolsV2(PUBLIC_DATA_DIR, PRIVATE_DIR)


def _tiny_facts() -> Benchmark:
    from ptb_env.benchmarks.facts import TinyFacts

    return TinyFacts(PUBLIC_DATA_DIR, PRIVATE_DIR)


def _tiny_facts_v2() -> Benchmark:
    from ptb_env.benchmarks.facts import TinyFactsV2

    return TinyFactsV2(PUBLIC_DATA_DIR, PRIVATE_DIR)


def _tiny_facts_v3() -> Benchmark:
    from ptb_env.benchmarks.facts import TinyFactsV3

    return TinyFactsV3(PUBLIC_DATA_DIR, PRIVATE_DIR)


def _hub(path: str) -> Callable[[], Benchmark]:
    """A factory of the real benchmark class at ``"module:Class"`` (imported when first used)."""

    def factory() -> Benchmark:
        import importlib

        module, cls = path.split(":")
        return getattr(importlib.import_module(f"ptb_env.benchmarks.{module}"), cls)()

    return factory


_REGISTRY: dict[str, Callable[[], Benchmark]] = {
    "tiny-arith": _tiny_arith,
    "tiny-arith-v2": _tiny_arith_v2,
    "tiny-arith-v3": _tiny_arith_v3,
    "tiny-tools": _tiny_tools,
    "tiny-tools-v2": _tiny_tools_v2,
    "tiny-facts": _tiny_facts,
    "tiny-facts-v2": _tiny_facts_v2,
    "tiny-facts-v3": _tiny_facts_v3,
    # the PostTrainBench suite's benchmarks: datasets from the hub or $PTB_ENV_DATA_DIR
    "gsm8k": _hub("gsm8k:GSM8K"),
    "humaneval": _hub("humaneval:HumanEval"),
    "gpqa-main": _hub("gpqa:GPQAMain"),
    "aime2025": _hub("aime:AIME2025"),
    "bfcl": _hub("bfcl:BFCL"),
}
TINY_BENCHMARKS = (
    "tiny-arith",
    "tiny-arith-v2",
    "tiny-arith-v3",
    "tiny-facts",
    "tiny-facts-v2",
    "tiny-facts-v3",
    "tiny-tools",
    "tiny-tools-v2",
)
"""The tiny world's synthetic benchmarks (generated splits, shipped hidden test files)."""
PTB_BENCHMARKS = ("aime2025", "bfcl", "gpqa-main", "gsm8k", "humaneval")
"""The PostTrainBench benchmarks this package reproduces (Arena-Hard and HealthBench need an LLM judge)."""


def list_benchmarks() -> list[str]:
    """Names of the registered benchmarks."""
    return sorted(_REGISTRY)


def get_benchmark(name: str) -> Benchmark:
    """The benchmark registered under ``name``.

    >>> get_benchmark("tiny-arith").name
    'tiny-arith'
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise BenchmarkNotFound(name, _REGISTRY) from None
    return factory()


__all__ = [
    "PTB_BENCHMARKS",
    "SPLITS",
    "TINY_BENCHMARKS",
    "Benchmark",
    "Item",
    "get_benchmark",
    "list_benchmarks",
]
