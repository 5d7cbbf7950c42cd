"""Evaluate: `rag eval`'s question sets, metrics and evaluators, scoring exactly what `Citeline.ask` returns."""
