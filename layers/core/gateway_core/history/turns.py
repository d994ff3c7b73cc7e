"""One chat turn with history, shared by the OpenAI and Bedrock interfaces (OpenAI format).

    wanted = HistoryRequest.pop_from(fields)          # enable_history / session_id, removed
    conversation = await open_conversation(request, wanted)
    messages, new, system = conversation.compose(request_messages)
    ... call LiteLLM with ``messages`` ...
    saved = await conversation.save(new + [assistant], model=..., system=system)

A continued turn sends the stored system prompt (unless the request brings a new one, which
replaces it), the stored messages, then the request's messages. The turn is stored only after
the model answered; a storing failure never costs the caller the answer (``saved`` is False and
the interface says so in a header).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from gateway_core.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from gateway_core.history import history_store
from gateway_core.identity import Caller, identify
from gateway_core.request_record import count
from gateway_core.settings import get_settings

__all__ = [
    "HISTORY_SAVED_HEADER",
    "SESSION_HEADER",
    "Conversation",
    "HistoryRequest",
    "StreamedAnswer",
    "assistant_message",
    "find_session",
    "open_conversation",
]

SESSION_HEADER = "x-session-id"
HISTORY_SAVED_HEADER = "x-history-saved"
_SYSTEM_ROLES = {"system", "developer"}
_KEPT_ASSISTANT_FIELDS = ("content", "tool_calls", "reasoning_content", "thinking_blocks")

log = logging.getLogger("gateway")


@dataclass(frozen=True)
class HistoryRequest:
    session_id: str | None  # None: a new session (enable_history); else the session to continue

    @classmethod
    def pop_from(cls, fields: dict[str, Any]) -> HistoryRequest | None:
        """Remove ``enable_history`` / ``session_id`` from ``fields``; None if neither asks for history."""
        enable, session_id = fields.pop("enable_history", None), fields.pop("session_id", None)
        if enable is not None and not isinstance(enable, bool):
            raise InvalidRequestError("enable_history must be a boolean", param="enable_history")
        if session_id is not None and (not isinstance(session_id, str) or not session_id.strip()):
            raise InvalidRequestError("session_id must be a non-empty string", param="session_id")
        if not enable and session_id is None:
            return None
        return cls(session_id)


def _require_history() -> None:
    if not get_settings().history_table:
        raise InvalidRequestError("Chat history is not enabled on this gateway (no history table configured)")


async def find_session(caller: Caller, session_id: Any) -> Any:
    """The caller's session; another owner's session is indistinguishable from a missing one."""
    _require_history()
    if not isinstance(session_id, str) or not session_id:
        raise InvalidRequestError("session_id is required", param="session_id")
    session = await run_in_threadpool(history_store().get, session_id)
    if session is None or not caller.may_access(session.owner):
        raise NotFoundError(f"Session {session_id} not found", param="session_id")
    return session


@dataclass
class Conversation:
    session_id: str
    owner: str
    create: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    system: list[dict[str, Any]] = field(default_factory=list)

    def compose(
        self, messages: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]] | None]:
        """(messages to send, new messages to store, new system prompt or None)."""
        system = [m for m in messages if m.get("role") in _SYSTEM_ROLES]
        others = [m for m in messages if m.get("role") not in _SYSTEM_ROLES]
        return (system or self.system) + self.history + others, others, system or None

    async def save(
        self, messages: list[dict[str, Any]], *, model: str | None, system: list[dict[str, Any]] | None
    ) -> bool:
        from gateway_core.history.store import SessionGone

        store = history_store()
        try:
            await run_in_threadpool(
                store.append, self.session_id, self.owner, messages, create=self.create, model=model, system=system
            )
        except SessionGone:
            log.warning("history not saved: session %s was deleted during the turn", self.session_id)
            count("HistoryStoreFailures")
            return False
        except ServiceUnavailableError as exc:
            log.error("history not saved for session %s: %s", self.session_id, exc.__cause__ or exc)
            count("HistoryStoreFailures")
            return False
        count("HistoryTurnsStored")  # a conversation is saved once, at the end of its turn
        return True


async def open_conversation(request: Request, wanted: HistoryRequest) -> Conversation:
    _require_history()
    caller = await identify(request)
    if wanted.session_id is None:
        from gateway_core.history.store import new_session_id

        return Conversation(new_session_id(), caller.owner, create=True)
    session = await find_session(caller, wanted.session_id)
    messages = await run_in_threadpool(history_store().messages, session.session_id)
    return Conversation(session.session_id, session.owner, create=False, history=messages, system=session.system)


def assistant_message(message: dict[str, Any]) -> dict[str, Any]:
    """The parts of an answer worth replaying on the next turn (no provider-specific extras)."""
    kept: dict[str, Any] = {"role": "assistant"}
    for name in _KEPT_ASSISTANT_FIELDS:
        if message.get(name):
            kept[name] = message[name]
    if "content" not in kept:
        kept["content"] = None if kept.get("tool_calls") else ""
    return kept


class StreamedAnswer:
    """Rebuilds the assistant message from streamed chunks, to store it when the stream ends."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}

    def feed(self, chunk: dict[str, Any]) -> None:
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.text.append(delta["content"])
            if delta.get("reasoning_content"):
                self.reasoning.append(delta["reasoning_content"])
            for call in delta.get("tool_calls") or []:
                entry = self.calls.setdefault(
                    call.get("index", 0), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                entry["id"] = entry["id"] or call.get("id")
                function = call.get("function") or {}
                entry["function"]["name"] += function.get("name") or ""
                entry["function"]["arguments"] += function.get("arguments") or ""

    def message(self) -> dict[str, Any]:
        return assistant_message(
            {
                "content": "".join(self.text),
                "tool_calls": [self.calls[i] for i in sorted(self.calls)],
                "reasoning_content": "".join(self.reasoning),
            }
        )
