import itertools

from ptb_env.tiny.corpus import documents


def sample(seed, n=2000):
    return list(itertools.islice(documents(seed), n))


def test_same_seed_same_corpus():
    assert sample(3) == sample(3)
    assert sample(3) != sample(4)


def test_corpus_is_not_in_the_benchmark_format():
    text = "\n".join(sample(0, 5000))
    for marker in ("####", "<|im_start|>", "<|im_end|>", '"arguments"', "assistant", "Answer with"):
        assert marker not in text, marker


def test_corpus_covers_the_world():
    text = "\n".join(sample(0, 2000))
    for needle in (" + ", " - ", " * ", "get_weather(", "lives in", '"function": '):
        assert needle in text, needle
