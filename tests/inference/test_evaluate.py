import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.inference import evaluate
from ptb_env.inference.transformers_backend import GenerationSettings, generate
from ptb_env.paths import TINY_MODEL_DIR


def test_batched_generation_matches_one_at_a_time(tiny_model):
    model, tok = tiny_model
    items = get_benchmark("tiny-tools").items("dev", limit=6) + get_benchmark("tiny-arith").items(
        "dev", limit=6
    )
    prompts = [it.messages for it in items]
    settings = GenerationSettings(max_new_tokens=24, batch_size=5)
    batched = generate(model, tok, prompts, settings, progress=False)
    single = [
        generate(model, tok, [p], GenerationSettings(max_new_tokens=24, batch_size=1), progress=False)[0]
        for p in prompts
    ]
    assert batched == single


def test_stop_strings_cut_the_completion(tiny_model):
    model, tok = tiny_model
    prompt = get_benchmark("tiny-arith").items("dev", limit=1)[0].messages
    full = generate(model, tok, [prompt], GenerationSettings(max_new_tokens=16), progress=False)[0]
    stop = full[3:6]
    cut = generate(model, tok, [prompt], GenerationSettings(max_new_tokens=16, stop=(stop,)), progress=False)[
        0
    ]
    assert cut == full[: full.find(stop)]


def test_evaluate_returns_score_count_and_records(tiny_model):
    model, tok = tiny_model
    r = evaluate(TINY_MODEL_DIR, "tiny-arith", "dev", limit=10, model=model, tokenizer=tok, progress=False)
    assert r.n == 10 and len(r.records) == 10
    assert r.score == sum(x["score"] for x in r.records) / 10
    assert {"id", "completion", "extracted", "reference", "score"} <= set(r.records[0])
    again = evaluate(
        TINY_MODEL_DIR, "tiny-arith", "dev", limit=10, model=model, tokenizer=tok, progress=False
    )
    assert again.records == r.records  # greedy: same model, same outputs


@pytest.mark.parametrize("name", ["tiny-arith", "tiny-tools"])
def test_base_model_does_not_follow_the_task_format(tiny_model, name):
    model, tok = tiny_model
    r = evaluate(TINY_MODEL_DIR, name, "test", limit=100, model=model, tokenizer=tok, progress=False)
    assert r.score <= 0.05


def test_chat_template_override_is_used(tmp_path):
    template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    from ptb_env.inference.transformers_backend import load, render

    _, tok = load(TINY_MODEL_DIR, chat_template=template)
    ids = render(tok, [[{"role": "user", "content": "abc"}]])[0]
    assert tok.decode(ids) == "abc"
