"""Planner constants the command line needs to build its parsers; imports nothing heavy."""

# Tasks a catalog entry may be tagged with (models/*.json "tasks").
TASKS = ("chat", "code", "reasoning", "multilingual", "math", "long-context")
# Generation speed below which a model counts as not usable on a machine (tok/s).
DEFAULT_MIN_TOKENS_PER_S = 5.0
