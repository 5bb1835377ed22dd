"""The chat conversation without Qt: a ChatSession's messages, the answer being written and the
store (a real SQLite database) kept in step, through sends, answers that finish, stop, crash or
fail, regenerate, edit-and-resend and switches of conversation."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.chat.session import (
    ASSISTANT,
    INTERRUPTED,
    SYSTEM,
    USER,
    ChatMessage,
    ChatSession,
    ConversationContext,
)
from workbench.engine.metrics import AnswerMetrics
from workbench.store import conversations as store
from workbench.store import db

CONTEXT = ConversationContext(model_path="/models/tiny.gguf", model_name="tiny",
                              system_prompt="Be brief.", settings={"sampling": {"seed": 1}})
METRICS = AnswerMetrics(ttft_ms=12.0, prompt_tokens=5, prompt_eval_tokens=5, prompt_ms=10.0,
                        prompt_tokens_per_s=500.0, completion_tokens=3, gen_eval_tokens=3,
                        gen_ms=30.0, gen_tokens_per_s=100.0, total_ms=42.0)


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    made = db.connect(tmp_path / "workbench.db")
    try:
        yield made
    finally:
        made.close()


class Events:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.saved = 0
        self.current: list[int | None] = []

    def session(self, connection: sqlite3.Connection | None) -> ChatSession:
        return ChatSession(connection, on_problem=self.problems.append,
                           on_saved=self._saved, on_current=self.current.append)

    def _saved(self) -> None:
        self.saved += 1


@pytest.fixture
def events() -> Events:
    return Events()


def rows(connection: sqlite3.Connection, conversation_id: int | None) -> list[tuple]:
    assert conversation_id is not None
    return [(m.role, m.content, m.finish_reason)
            for m in store.get(connection, conversation_id).messages]


def shown(session: ChatSession) -> list[tuple]:
    return [(m.role, m.content, m.finish_reason) for m in session.messages]


def answered(session: ChatSession, question: str, answer: str) -> None:
    session.send(question, CONTEXT)
    session.partial(answer)
    session.finish(answer, "stop", METRICS)


def test_a_conversation_is_created_with_its_first_message_and_answers_are_stored(
        connection, events) -> None:
    session = events.session(connection)
    assert session.conversation_id is None and session.history() == []
    user, answer = session.send("What is 2 + 2?", CONTEXT)
    cid = session.conversation_id
    assert cid is not None and events.current == [cid]
    conversation = store.get(connection, cid)
    assert conversation.title == "What is 2 + 2?" and conversation.model_name == "tiny"
    assert conversation.system_prompt == "Be brief." and conversation.settings == CONTEXT.settings
    assert user.position == 0 and session.pending is answer and answer.role == ASSISTANT
    # the answer being written is not part of what the model is sent
    assert session.request("Be brief.") == [{"role": SYSTEM, "content": "Be brief."},
                                            {"role": USER, "content": "What is 2 + 2?"}]
    session.partial("It is ")
    session.partial("4.")
    assert answer.content == "It is 4." and session.answer is not None
    assert session.history() == [{"role": USER, "content": "What is 2 + 2?"}]
    end = session.finish("It is 4.", "stop", METRICS)
    assert end.message is answer and end.late is None and session.answer is None
    assert answer.finish_reason == "stop" and answer.metrics == METRICS and answer.position == 1
    assert rows(connection, cid) == [(USER, "What is 2 + 2?", None),
                                     (ASSISTANT, "It is 4.", "stop")]
    assert store.get(connection, cid).messages[1].metrics == METRICS.to_dict()
    assert session.history() == [{"role": USER, "content": "What is 2 + 2?"},
                                 {"role": ASSISTANT, "content": "It is 4."}]
    assert events.saved == 2 and events.problems == []


def test_a_stored_conversation_opens_with_its_messages_and_metrics(connection, events) -> None:
    first = events.session(connection)
    answered(first, "Hello", "Hi there")
    second = events.session(connection)
    conversation = second.open(first.conversation_id)
    assert conversation.system_prompt == "Be brief."
    assert second.conversation_id == first.conversation_id
    assert shown(second) == shown(first)
    assert second.messages[1].metrics == METRICS and second.messages[1].position == 1
    with pytest.raises(store.ConversationNotFound):
        second.open(12345)
    assert second.conversation_id == first.conversation_id and len(second.messages) == 2


def test_the_context_is_noted_as_the_conversation_goes_on(connection, events) -> None:
    session = events.session(connection)
    answered(session, "one", "1")
    other = ConversationContext(model_path="/models/other.gguf", model_name="other",
                                system_prompt="", settings={"sampling": {"seed": 2}})
    session.send("two", other)
    conversation = store.get(connection, session.conversation_id)
    assert conversation.model_name == "other" and conversation.system_prompt is None
    assert conversation.settings == {"sampling": {"seed": 2}} and conversation.title == "one"


def test_regenerate_drops_the_answer_and_asks_again_with_the_same_history(
        connection, events) -> None:
    session = events.session(connection)
    answered(session, "one", "1")
    answered(session, "two", "2")
    before = session.history()[:-1]
    assert session.regenerate_index() == 3 and session.regenerate_index(1) == 1
    assert session.regenerate_index(0) is None  # a user message is not an answer
    again = session.regenerate(None, CONTEXT)
    assert again is not None and session.pending is again
    assert session.history() == before
    assert rows(connection, session.conversation_id) == [
        (USER, "one", None), (ASSISTANT, "1", "stop"), (USER, "two", None)]
    session.finish("2 again", "stop", METRICS)
    assert rows(connection, session.conversation_id)[-1] == (ASSISTANT, "2 again", "stop")
    # an earlier answer: it and everything after it go
    session.regenerate(1, CONTEXT)
    assert shown(session)[:1] == [(USER, "one", None)] and len(session.messages) == 2
    assert rows(connection, session.conversation_id) == [(USER, "one", None)]


def test_nothing_to_regenerate(connection, events) -> None:
    session = events.session(connection)
    assert session.regenerate(None, CONTEXT) is None
    session.messages = [ChatMessage(ASSISTANT, "a greeting")]
    assert session.regenerate_index() is None and session.regenerate_index(0) is None


def test_edit_and_resend_replaces_the_message_and_everything_after_it(
        connection, events) -> None:
    session = events.session(connection)
    answered(session, "one", "1")
    answered(session, "two", "2")
    user, _answer = session.edit_and_resend(0, "a new start", CONTEXT)
    assert user.position == 0 and [m.content for m in session.messages] == ["a new start", ""]
    session.finish("fresh", "stop", METRICS)
    assert rows(connection, session.conversation_id) == [
        (USER, "a new start", None), (ASSISTANT, "fresh", "stop")]


def test_a_stopped_answer_is_kept_as_cancelled(connection, events) -> None:
    session = events.session(connection)
    session.send("Tell me a story.", CONTEXT)
    session.partial("Once upon")
    end = session.stopped("Once upon", METRICS)
    assert end.message is not None and end.message.finish_reason == "cancelled"
    assert rows(connection, session.conversation_id)[-1] == (ASSISTANT, "Once upon",
                                                             "cancelled")


def test_a_crash_keeps_what_arrived_as_interrupted(connection, events) -> None:
    session = events.session(connection)
    session.send("Tell me a story.", CONTEXT)
    session.partial("Once upon a time")
    end = session.crash("Once upon")  # the worker's text is shorter: the streamed one stays
    assert end.message is not None and end.message.interrupted
    assert end.message.content == "Once upon a time"
    assert rows(connection, session.conversation_id)[-1] == (ASSISTANT, "Once upon a time",
                                                             INTERRUPTED)
    session.send("Go on.", CONTEXT)
    session.partial("and")
    session.crash("and then")  # the worker had written more than arrived
    assert rows(connection, session.conversation_id)[-1] == (ASSISTANT, "and then",
                                                             INTERRUPTED)


def test_a_crash_at_the_start_stores_an_empty_interrupted_answer_left_out_of_the_history(
        connection, events) -> None:
    session = events.session(connection)
    session.send("Crash, please.", CONTEXT)
    session.crash(None)
    assert rows(connection, session.conversation_id) == [
        (USER, "Crash, please.", None), (ASSISTANT, "", INTERRUPTED)]
    assert session.history() == [{"role": USER, "content": "Crash, please."}]
    reopened = events.session(connection)
    reopened.open(session.conversation_id)
    assert reopened.messages[1].interrupted and reopened.history() == session.history()


def test_a_first_message_the_model_cannot_take_is_taken_back_with_its_conversation(
        connection, events) -> None:
    session = events.session(connection)
    session.send("far too long", CONTEXT)
    cid = session.conversation_id
    failure = session.fail()
    assert failure is not None and failure.user_text == "far too long"
    assert [m.role for m in failure.removed] == [ASSISTANT, USER]
    assert session.messages == [] and session.answer is None
    assert session.conversation_id is None and events.current == [cid, None]
    assert store.list_conversations(connection) == []  # no empty conversation is left


def test_a_later_message_that_fails_is_taken_back_alone(connection, events) -> None:
    session = events.session(connection)
    answered(session, "one", "1")
    session.send("far too long", CONTEXT)
    failure = session.fail()
    assert failure is not None and failure.user_text == "far too long"
    assert shown(session) == [(USER, "one", None), (ASSISTANT, "1", "stop")]
    assert rows(connection, session.conversation_id) == shown(session)


def test_a_regenerated_answer_that_fails_keeps_the_user_message(connection, events) -> None:
    session = events.session(connection)
    answered(session, "one", "1")
    session.regenerate(None, CONTEXT)
    failure = session.fail()
    assert failure is not None and failure.user_text is None
    assert shown(session) == [(USER, "one", None)]
    assert rows(connection, session.conversation_id) == [(USER, "one", None)]


def test_switching_conversation_stores_the_answer_where_it_belongs(connection, events) -> None:
    session = events.session(connection)
    answered(session, "other chat", "its answer")
    other = session.conversation_id
    session.new()
    session.send("Tell me a story.", CONTEXT)
    streaming_in = session.conversation_id
    session.partial("Once")
    session.open(other)  # the page stops the answer; it ends later
    assert session.pending is None and session.answer is not None
    end = session.finish("Once upon", "cancelled", METRICS)
    assert end.message is None and end.late is None and end.stored is not None
    assert shown(session) == [(USER, "other chat", None), (ASSISTANT, "its answer", "stop")]
    assert rows(connection, streaming_in)[-1] == (ASSISTANT, "Once upon", "cancelled")
    assert len(rows(connection, other)) == 2


def test_coming_back_before_the_stopped_answer_ends_shows_it(connection, events) -> None:
    session = events.session(connection)
    answered(session, "other chat", "its answer")
    other = session.conversation_id
    session.new()
    session.send("Tell me a story.", CONTEXT)
    streaming_in = session.conversation_id
    session.open(other)
    session.open(streaming_in)
    assert shown(session) == [(USER, "Tell me a story.", None)]
    end = session.finish("Once upon", "cancelled", METRICS)
    assert end.late is not None and session.messages[-1] is end.late
    assert shown(session) == rows(connection, streaming_in)
    assert end.late.metrics == METRICS


def test_a_crash_after_a_switch_stores_what_the_worker_had_written(connection, events) -> None:
    session = events.session(connection)
    session.send("Tell me a story.", CONTEXT)
    streaming_in = session.conversation_id
    session.partial("Once upon a time")
    session.new()
    end = session.crash("Once upon")
    assert end.message is None and end.late is None
    assert rows(connection, streaming_in)[-1] == (ASSISTANT, "Once upon", INTERRUPTED)


def test_a_failure_after_a_switch_changes_nothing(connection, events) -> None:
    session = events.session(connection)
    session.send("far too long", CONTEXT)
    cid = session.conversation_id
    session.new()
    assert session.fail() is None
    assert rows(connection, cid) == [(USER, "far too long", None)]


def test_an_answer_for_a_deleted_conversation_is_not_stored(connection, events) -> None:
    session = events.session(connection)
    session.send("Tell me a story.", CONTEXT)
    cid = session.conversation_id
    session.new()
    store.delete(connection, cid)
    session.forget(cid)
    end = session.finish("Once", "cancelled", METRICS)
    assert end.stored is None and events.problems == []


def test_a_conversation_deleted_elsewhere_starts_again_with_the_next_message(
        connection, events) -> None:
    session = events.session(connection)
    answered(session, "one", "1")
    gone = session.conversation_id
    store.delete(connection, gone)
    session.send("two", CONTEXT)
    assert session.conversation_id is not None  # a new one (SQLite may reuse the id)
    assert store.get(connection, session.conversation_id).title == "two"
    assert rows(connection, session.conversation_id) == [(USER, "two", None)]


def test_without_a_database_the_chat_goes_on_in_memory(events) -> None:
    session = events.session(None)
    answered(session, "one", "1")
    assert session.conversation_id is None and session.messages[0].position is None
    assert session.history() == [{"role": USER, "content": "one"},
                                 {"role": ASSISTANT, "content": "1"}]
    assert session.regenerate(None, CONTEXT) is not None
    assert events.problems == [] and events.saved == 0


def test_a_broken_database_is_reported_and_the_chat_goes_on(connection, events) -> None:
    session = events.session(connection)
    answered(session, "one", "1")
    connection.execute("DROP TABLE messages")
    session.send("two", CONTEXT)
    session.finish("2", "stop", METRICS)
    assert len(events.problems) == 2
    assert all(p.startswith("The conversation could not be saved: ") for p in events.problems)
    assert [m.content for m in session.messages] == ["one", "1", "two", "2"]
