"""Adapters that let training libraries drive PostTrain episodes (TRL's GRPO trainer, ...).

Each adapter lives in its own module and imports its library lazily, so importing
``ptb_env`` (or this package) never pulls in TRL, datasets or torch.
"""
