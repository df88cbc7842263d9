"""Training recipes behind the ``train`` tool (reference full-parameter SFT: ``training.sft``)."""
