"""Benchmarks: the protocol, the tiny synthetic benchmarks and the registry."""

from __future__ import annotations

from collections.abc import Callable

from ptb_env.benchmarks.base import SPLITS, Benchmark, Item
from ptb_env.errors import BenchmarkNotFound
from ptb_env.paths import PRIVATE_DIR, PUBLIC_DATA_DIR


def _tiny_arith() -> Benchmark:
    from ptb_env.benchmarks.arith import TinyArith

    return TinyArith(PUBLIC_DATA_DIR, PRIVATE_DIR)


def _tiny_tools() -> Benchmark:
    from ptb_env.benchmarks.tools import TinyTools

    return TinyTools(PUBLIC_DATA_DIR, PRIVATE_DIR)


def _tiny_facts() -> Benchmark:
    from ptb_env.benchmarks.facts import TinyFacts

    return TinyFacts(PUBLIC_DATA_DIR, PRIVATE_DIR)


_REGISTRY: dict[str, Callable[[], Benchmark]] = {
    "tiny-arith": _tiny_arith,
    "tiny-tools": _tiny_tools,
    "tiny-facts": _tiny_facts,
}


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


__all__ = ["SPLITS", "Benchmark", "Item", "get_benchmark", "list_benchmarks"]
