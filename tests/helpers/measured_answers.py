"""Real stored answers of one local model, as Chat, Compare and Bench leave them in SQLite:
the measurements the Costs page and ``workbench breakeven`` start from."""

from __future__ import annotations

import sqlite3

from workbench.compare import store as compare_store
from workbench.providers.base import AnswerResult, Params
from workbench.store import conversations

MODEL = "/models/qwen-7b-q4_k_m.gguf"


def add_chat_answers(connection: sqlite3.Connection, rates: list[float],
                     model_path: str = MODEL) -> None:
    conversation = conversations.create(connection, title="t", model_path=model_path)
    for rate in rates:
        conversations.append_message(connection, conversation, "user", "hi")
        conversations.append_message(connection, conversation, "assistant", "hello",
                                     metrics={"gen_tokens_per_s": rate, "total_ms": 900.0},
                                     finish_reason="stop")


def add_compare_answer(connection: sqlite3.Connection, rate: float, joules: float,
                       total_ms: float, model_path: str = MODEL, *,
                       energy_method: str = "nvml-counter") -> None:
    name = model_path.rsplit("/", 1)[-1]
    local = AnswerResult(target=f"local:{model_path}", label=f"local/{name}", provider="local",
                         model=name, destination="this machine", text="hi",
                         gen_tokens_per_s=rate, energy_j=joules, total_ms=total_ms,
                         energy_method=energy_method, finish_reason="stop")
    compare_store.save_run(connection, prompt="p", system=None, params=Params(),
                           results=[local])


def add_bench_run(connection: sqlite3.Connection, rate: float, model_path: str = MODEL) -> None:
    with connection:
        connection.execute(
            "INSERT INTO bench_runs (model_path, model_name, pp_tokens, tg_tokens, repetitions, "
            "tg_tokens_per_s, settings, machine) VALUES (?, 'm', 512, 128, 5, ?, '{}', '{}')",
            (model_path, rate))
