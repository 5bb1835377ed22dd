"""One chat conversation, Qt-free: its messages, the answer being written, and the store in step.

The Chat page renders a ``ChatSession`` and forwards what the user does; ``workbench run`` with
a conversation and the local server can hold one the same way. Every message is stored as it
happens (``workbench.store.conversations``): the user's message when it is sent, the answer
when it ends (finished, stopped, or cut short by a crash, then marked ``interrupted``). A
conversation is created with its first message.

- ``add_user(text, context)`` then ``start_answer(user)``: the history to send is ``request()``;
  ``partial(text)`` as text streams; the answer ends with ``finish`` (``stop``, ``length``, or
  ``cancelled`` when stopped), ``crash`` (what arrived is kept, ``interrupted``) or ``fail``
  (nothing was answered: the user's message is taken back, from the store too, and an empty
  conversation goes).
- ``regenerate(index, context)`` drops the answer at ``index`` and what follows, then asks
  again; ``edit_and_resend(index, text, context)`` replaces the user message at ``index`` and
  everything after it.
- ``open``/``new`` switch conversation; an answer still being written then belongs to the
  conversation it was asked in and is stored there when it ends. Opened again before that, the
  conversation shows it too (``AnswerEnd.late``).

Storage problems do not stop a chat: they are reported to ``on_problem`` and the conversation
goes on in memory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.metrics import AnswerMetrics
from workbench.errors import WorkbenchError
from workbench.store import conversations as store

USER = "user"
ASSISTANT = "assistant"
SYSTEM = "system"
INTERRUPTED = store.INTERRUPTED


@dataclass(eq=False)  # compared by identity: two equal texts are still two messages
class ChatMessage:
    """A message of the conversation; ``position`` is its place in the store (None: not
    stored)."""

    role: str
    content: str = ""
    finish_reason: str | None = None
    metrics: AnswerMetrics | None = None
    position: int | None = None

    @property
    def interrupted(self) -> bool:
        return self.finish_reason == INTERRUPTED

    @classmethod
    def from_stored(cls, stored: store.Message) -> ChatMessage:
        metrics = AnswerMetrics.from_dict(stored.metrics) if stored.metrics else None
        return cls(stored.role, stored.content, stored.finish_reason, metrics, stored.position)


@dataclass(frozen=True)
class ConversationContext:
    """What a conversation goes on with: the model, the system prompt, the settings."""

    model_path: str | None = None
    model_name: str | None = None
    system_prompt: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_store(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "model_name": self.model_name,
                "system_prompt": self.system_prompt, "settings": dict(self.settings)}


@dataclass
class Answer:
    """The answer being written: the conversation it is stored in, its message (while that
    conversation is shown) and the user message sent with it."""

    conversation_id: int | None
    message: ChatMessage | None
    user: ChatMessage | None = None
    text: str = ""


@dataclass(frozen=True)
class AnswerEnd:
    """What an ended answer changed. ``message``: the shown answer, now complete; ``late``: the
    answer of a conversation that was left and opened again before it ended, now appended to
    the messages; ``stored``: the row in the store (None: not stored)."""

    message: ChatMessage | None = None
    late: ChatMessage | None = None
    stored: store.Message | None = None


@dataclass(frozen=True)
class AnswerFailure:
    """A failed answer (nothing was answered): the messages taken back and the user's text
    to edit and send again (None: no user message went with it)."""

    removed: tuple[ChatMessage, ...]
    user_text: str | None


class ChatSession:
    """The conversation shown (``conversation_id``, ``messages``) and the answer being
    written (``answer``), kept in step with the store (``connection``; None: memory only)."""

    def __init__(self, connection: sqlite3.Connection | None, *,
                 on_problem: Callable[[str], None] | None = None,
                 on_saved: Callable[[], None] | None = None,
                 on_current: Callable[[int | None], None] | None = None) -> None:
        """``on_problem(text)``: the store failed (the chat goes on); ``on_saved()``: a
        message was stored; ``on_current(id)``: the stored conversation of this session
        changed by a store action (created with its first message, or gone when emptied)."""
        self.connection = connection
        self.conversation_id: int | None = None
        self.messages: list[ChatMessage] = []
        self.answer: Answer | None = None
        self._on_problem = on_problem
        self._on_saved = on_saved
        self._on_current = on_current

    # -- reading ---------------------------------------------------------------------------
    @property
    def pending(self) -> ChatMessage | None:
        """The answer being written, when it is one of the messages shown."""
        return self.answer.message if self.answer is not None else None

    def history(self) -> list[dict[str, str]]:
        """The conversation as the model gets it (the answer being written and empty
        interrupted answers left out)."""
        pending = self.pending
        return [{"role": m.role, "content": m.content} for m in self.messages
                if m is not pending and (m.role == USER or m.content)]

    def request(self, system_prompt: str | None = None) -> list[dict[str, str]]:
        """The messages to send: the system prompt (if any), then the history."""
        system = [{"role": SYSTEM, "content": system_prompt}] if system_prompt else []
        return system + self.history()

    def last_user_index(self) -> int | None:
        for index in range(len(self.messages) - 1, -1, -1):
            if self.messages[index].role == USER:
                return index
        return None

    def regenerate_index(self, index: int | None = None) -> int | None:
        """Where a regenerate drops from: the answer at ``index`` (default: the last message
        when it is an answer, else the end); None when no user message comes before it."""
        messages = self.messages
        if index is None:
            index = len(messages) - 1 if messages and messages[-1].role == ASSISTANT \
                else len(messages)
        elif not 0 <= index < len(messages) or messages[index].role != ASSISTANT:
            return None
        if index == 0 or messages[index - 1].role != USER:
            return None
        return index

    # -- switching conversation -------------------------------------------------------------
    def leave(self) -> None:
        """Show no conversation; an answer being written stays with its own conversation."""
        if self.answer is not None:
            self.answer.message = None
            self.answer.user = None
        self.messages = []

    def new(self) -> None:
        """A new conversation (stored with its first message)."""
        self.leave()
        self.conversation_id = None

    def open(self, conversation_id: int) -> store.Conversation:
        """Show a stored conversation; raises (ConversationNotFound, sqlite3.Error) and keeps
        the current one when it cannot be read."""
        if self.connection is None:
            raise WorkbenchError("the conversations cannot be read: no database")
        conversation = store.get(self.connection, conversation_id)
        self.leave()
        self.conversation_id = conversation.id
        self.messages = [ChatMessage.from_stored(m) for m in conversation.messages]
        return conversation

    def forget(self, conversation_id: int) -> None:
        """The conversation was deleted (elsewhere): an answer for it is no longer stored."""
        if self.answer is not None and self.answer.conversation_id == conversation_id:
            self.answer.conversation_id = None

    # -- changing the conversation ----------------------------------------------------------
    def save_context(self, context: ConversationContext,
                     first_message: str | None = None) -> None:
        """Create the conversation (with ``first_message`` as its title) or note the model,
        system prompt and settings it goes on with."""
        if self.connection is None:
            return
        values = context.to_store()
        try:
            if self.conversation_id is not None:
                store.update(self.connection, self.conversation_id, **values)
                return
            if first_message is not None:
                self.conversation_id = store.create(self.connection, title=first_message,
                                                    **values)
                self._current_changed()
        except store.ConversationNotFound:
            self.conversation_id = None  # deleted elsewhere (another window, the CLI)
            if first_message is not None:
                self.save_context(context, first_message)
        except sqlite3.Error as err:
            self._problem(err)

    def drop_from(self, index: int) -> list[ChatMessage]:
        """Remove the messages from ``index`` on, here and in the store; returns them."""
        dropped, self.messages = self.messages[index:], self.messages[:index]
        if self.connection is not None and self.conversation_id is not None:
            try:
                store.truncate_after(self.connection, self.conversation_id, index - 1)
            except (WorkbenchError, sqlite3.Error) as err:
                self._problem(err)
        return dropped

    def add_user(self, text: str, context: ConversationContext) -> ChatMessage:
        """Append (and store) the user's message; the conversation is created with it."""
        self.save_context(context, first_message=text)
        stored = self._store(self.conversation_id, USER, text)
        message = ChatMessage(USER, text, position=stored.position if stored else None)
        self.messages.append(message)
        return message

    def start_answer(self, user: ChatMessage | None = None) -> ChatMessage:
        """The answer to the conversation as it stands; ``user``: the message it answers
        (taken back if nothing is answered)."""
        message = ChatMessage(ASSISTANT)
        self.messages.append(message)
        self.answer = Answer(self.conversation_id, message, user)
        return message

    def send(self, text: str, context: ConversationContext) -> tuple[ChatMessage, ChatMessage]:
        """The user's message and the answer to it (to be asked for with ``request()``)."""
        user = self.add_user(text, context)
        return user, self.start_answer(user)

    def edit_and_resend(self, index: int, text: str,
                        context: ConversationContext) -> tuple[ChatMessage, ChatMessage]:
        """Replace the message at ``index`` and everything after it with ``text``, and ask."""
        self.drop_from(index)
        return self.send(text, context)

    def regenerate(self, index: int | None,
                   context: ConversationContext) -> ChatMessage | None:
        """Drop the answer at ``index`` (default: the last one) and what follows, and ask
        again with the same history; None when there is no answer to regenerate."""
        start = self.regenerate_index(index)
        if start is None:
            return None
        self.drop_from(start)
        self.save_context(context)
        return self.start_answer()

    # -- the answer ---------------------------------------------------------------------------
    def partial(self, text: str) -> None:
        """Text of the answer as it streams."""
        if self.answer is not None:
            self.answer.text += text
            if self.answer.message is not None:
                self.answer.message.content = self.answer.text

    def finish(self, text: str, finish_reason: str,
               metrics: AnswerMetrics | None) -> AnswerEnd:
        """The answer ended (``cancelled``: stopped): stored in its conversation, even when
        another is shown by now."""
        return self._end(text, finish_reason, metrics)

    def stopped(self, text: str, metrics: AnswerMetrics | None) -> AnswerEnd:
        return self._end(text, "cancelled", metrics)

    def crash(self, partial_text: str | None = None) -> AnswerEnd:
        """The model process died while answering: what arrived is kept (the longer of the
        streamed text and the worker's own), marked interrupted."""
        streamed = self.answer.text if self.answer is not None else ""
        text = partial_text if partial_text is not None and len(partial_text) >= len(streamed) \
            else streamed
        if self.answer is not None and self.answer.message is None:
            text = partial_text or ""  # (not shown: what the worker said it had written)
        return self._end(text, INTERRUPTED, None)

    def fail(self) -> AnswerFailure | None:
        """Nothing was answered: the answer and the user message sent with it are taken back
        (from the store too; a conversation left empty goes). None when the answer was not
        shown any more (its conversation was left): nothing changes then."""
        answer, self.answer = self.answer, None
        if answer is None or answer.message is None:
            return None
        removed = [answer.message]
        user = answer.user
        if user is not None:
            removed.append(user)
            if answer.conversation_id is not None and user.position is not None:
                self._take_back(answer.conversation_id, user.position)
        self.messages = [m for m in self.messages if not any(m is r for r in removed)]
        return AnswerFailure(tuple(removed), user.content if user is not None else None)

    def abandon(self) -> None:
        """Forget the answer being written without storing it (its worker is gone)."""
        self.answer = None

    # -- plumbing ----------------------------------------------------------------------------
    def _end(self, text: str, finish_reason: str, metrics: AnswerMetrics | None) -> AnswerEnd:
        answer, self.answer = self.answer, None
        target = answer.conversation_id if answer is not None else None
        stored = self._store(target, ASSISTANT, text, metrics=metrics,
                             finish_reason=finish_reason)
        if answer is not None and answer.message is not None:
            message = answer.message
            message.content, message.finish_reason, message.metrics = text, finish_reason, metrics
            message.position = stored.position if stored is not None else None
            return AnswerEnd(message=message, stored=stored)
        # an answer stopped by a switch of conversation was saved after its conversation was
        # opened again: it shows there too (the messages and the store stay in step)
        if stored is not None and stored.conversation_id == self.conversation_id \
                and stored.position == len(self.messages):
            late = ChatMessage.from_stored(stored)
            self.messages.append(late)
            return AnswerEnd(late=late, stored=stored)
        return AnswerEnd(stored=stored)

    def _store(self, conversation_id: int | None, role: str, content: str, *,
               metrics: AnswerMetrics | None = None,
               finish_reason: str | None = None) -> store.Message | None:
        if self.connection is None or conversation_id is None:
            return None
        try:
            stored = store.append_message(
                self.connection, conversation_id, role, content,
                metrics=metrics.to_dict() if metrics is not None else None,
                finish_reason=finish_reason)
        except store.ConversationNotFound:
            return None  # deleted while its answer was being written
        except sqlite3.Error as err:
            self._problem(err)
            return None
        if self._on_saved is not None:
            self._on_saved()
        return stored

    def _take_back(self, conversation_id: int, position: int) -> None:
        """Unstore the message at ``position`` and what follows; a conversation left empty
        goes too (empty conversations are not kept)."""
        if self.connection is None:
            return
        try:
            store.truncate_after(self.connection, conversation_id, position - 1)
            if position == 0:
                store.delete(self.connection, conversation_id)
                if conversation_id == self.conversation_id:
                    self.conversation_id = None
        except (WorkbenchError, sqlite3.Error):
            pass  # the conversation went meanwhile: there is nothing to take back
        self._current_changed()

    def _current_changed(self) -> None:
        if self._on_current is not None:
            self._on_current(self.conversation_id)

    def _problem(self, err: BaseException) -> None:
        if self._on_problem is not None:
            self._on_problem(f"The conversation could not be saved: {err}")
