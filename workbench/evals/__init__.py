"""Test suites on the user's own prompts: loading, assertions, judges, runs, statistics and
the decision (docs/evals.md). Qt-free; the CLI (commands/eval.py) and the Evals page use it."""
