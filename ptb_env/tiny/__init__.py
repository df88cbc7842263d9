"""The tiny world: a synthetic world, its corpus, tokenizer and a shipped tiny base model."""
