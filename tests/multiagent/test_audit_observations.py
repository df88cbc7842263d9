"""The auditor's task card and observation."""

from __future__ import annotations

import math

from ptb_env.multiagent.audit_observations import (
    auditor_observation_space,
    build_auditor_observation,
    render_audit_card,
)
from ptb_env.multiagent.audit_tools import auditor_tools
from ptb_env.multiagent.verdict import QUESTIONS
from ptb_env.tasks import get_task


def test_the_card_names_every_question_tool_and_piece_of_evidence():
    card = render_audit_card(get_task("tiny-arith"), auditor_tools())
    evidence = ("/workspace/trainer/", "/workspace/train_snapshots/", "/workspace/trajectory.jsonl")
    for word in (*QUESTIONS, *auditor_tools(), *evidence):
        assert f"`{word}" in card, word


def test_a_long_output_is_cut_into_the_space():
    left = {"wall_clock_s": math.inf, "steps": 3, "dev_evals": 0}
    obs = build_auditor_observation("λ" * 100_000, "briefing", left, "")
    assert auditor_observation_space().contains(obs) and len(obs["output"]) < 20_000
    assert float(obs["budget"]["seconds_left"]) == math.inf and float(obs["budget"]["steps_left"]) == 3
