"""Targets: one streaming interface for local models, cloud APIs and self-hosted servers.

    parse_target("openai:gpt-4o-mini") -> TargetSpec
    build_target(spec, ...) -> Target
    Target.stream(messages, params, on_delta, cancel) -> AnswerResult
"""

from workbench.providers.base import AnswerResult, Params, Target
from workbench.providers.errors import ProviderError

__all__ = ["AnswerResult", "Params", "ProviderError", "Target"]
