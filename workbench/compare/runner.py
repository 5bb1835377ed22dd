"""Run the same conversation on several targets at once, each in its own thread.

Each target streams into its own pane through ``on_event``; a failure stays in that target's
result. Costs are filled in as each answer finishes (pricing table, user overrides, energy).
Events arrive on the targets' threads: a GUI must hand them to its own thread (the Qt bridge
does), a CLI can print them under a lock.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workbench.cancel import CancelToken
from workbench.costs.answer_cost import price_answer
from workbench.costs.pricing import PricingTable
from workbench.errors import BadInput
from workbench.providers.base import AnswerResult, Message, Params, Target
from workbench.store.settings import AppSettings

MAX_TARGETS = 4
CANCEL_GRACE_S = 5.0  # after Ctrl-C, how long the targets get to stop by themselves


@dataclass(frozen=True)
class CompareEvent:
    index: int  # which target (its position in the list)
    kind: str  # "delta" | "status" | "done"
    text: str = ""  # the streamed text piece or the status line
    tokens: int | None = None  # output tokens so far, where the target knows them
    result: AnswerResult | None = None  # with "done"


EventCallback = Callable[[CompareEvent], None]


def build_messages(prompt: str, system: str | None = None) -> list[Message]:
    if not prompt.strip():
        raise BadInput("the prompt is empty")
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": prompt}]


class CompareSession:
    """One comparison: ``start()``, then ``wait()``; ``cancel(i)`` stops one pane (or all)."""

    def __init__(
        self,
        targets: Sequence[Target],
        messages: Sequence[Message],
        params: Params | None = None,
        *,
        on_event: EventCallback | None = None,
        pricing: PricingTable | None = None,
        settings: AppSettings | None = None,
    ) -> None:
        if not targets:
            raise BadInput("nothing to compare: give at least one target")
        if len(targets) > MAX_TARGETS:
            raise BadInput(f"compare at most {MAX_TARGETS} targets at once, not {len(targets)}")
        self.targets = list(targets)
        self.messages = list(messages)
        self.params = params or Params()
        self.on_event = on_event
        self.pricing = pricing
        self.settings = settings or AppSettings()
        self.cancels = [CancelToken() for _ in self.targets]
        self.results: list[AnswerResult | None] = [None] * len(self.targets)
        self._threads: list[threading.Thread] = []

    def _emit(self, event: CompareEvent) -> None:
        if self.on_event is not None:
            with contextlib.suppress(Exception):  # a broken listener must not end the answer
                self.on_event(event)

    def _run_one(self, index: int) -> None:
        target = self.targets[index]

        def on_delta(text: str, tokens: int | None) -> None:
            self._emit(CompareEvent(index, "delta", text, tokens))

        def on_status(line: str) -> None:
            self._emit(CompareEvent(index, "status", line))

        result = target.stream(self.messages, self.params, on_delta, self.cancels[index],
                               on_status)
        if self.pricing is not None:
            try:
                price_answer(result, self.pricing, self.settings)
            except Exception as err:  # pricing must never lose the answer
                result.cost_note = f"could not price: {err}"
        self.results[index] = result
        self._emit(CompareEvent(index, "done", result=result))

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("this comparison was already started")
        for index in range(len(self.targets)):
            thread = threading.Thread(target=self._run_one, args=(index,),
                                      name=f"compare-{index}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def cancel(self, index: int | None = None) -> None:
        for i, token in enumerate(self.cancels):
            if index is None or i == index:
                token.cancel()

    def wait(self, timeout: float | None = None) -> list[AnswerResult]:
        """Every result; ``TimeoutError`` when some target is still running after ``timeout``
        seconds (for all of them together)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        missing = [i for i, r in enumerate(self.results) if r is None]
        if missing:
            raise TimeoutError(f"targets {missing} have not finished")
        return [r for r in self.results if r is not None]

    def run(self) -> list[AnswerResult]:
        """Run every target to the end. Ctrl-C cancels them: what they answered by then is
        returned, or, when one does not stop within ``CANCEL_GRACE_S``, ``KeyboardInterrupt``
        goes on up (the caller closes the targets, which stops their processes)."""
        self.start()
        try:
            return self.wait()
        except KeyboardInterrupt:
            self.cancel()
            try:
                return self.wait(timeout=CANCEL_GRACE_S)
            except TimeoutError:
                raise KeyboardInterrupt from None
