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


def test_quiz_sheets_ask_only_about_the_public_people_and_leave_the_default_corpus_alone():
    from ptb_env.tiny import world

    assert list(itertools.islice(documents(5, quiz=0.0), 500)) == sample(5, 500)
    quizzes = [d for d in itertools.islice(documents(5, quiz=0.1), 1000) if d.startswith("Quiz.")]
    assert len(quizzes) > 50
    asked = {q.split("?")[0] for sheet in quizzes for q in sheet.split("Q: ")[1:]}
    held_out = set(world.held_out_facts())
    public = set(world.PEOPLE_FACTS)
    assert held_out and not held_out & public
    for question in asked:
        names = set(question.replace("?", " ").split())
        assert names & public and not names & held_out, question
    text = "\n".join(quizzes)
    for marker in ("ANSWER", "Answer", "A)", "B)"):  # never the benchmark's answer format
        assert marker not in text, marker


def test_a_quiz_share_out_of_range_is_refused():
    import pytest

    with pytest.raises(ValueError, match="quiz share between 0 and"):
        next(documents(0, quiz=0.9))
