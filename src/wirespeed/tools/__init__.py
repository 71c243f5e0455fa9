"""What users run: gen, sink, fwd (+ hooks), search, budget (+ profile); each a config, a step and a summary."""
