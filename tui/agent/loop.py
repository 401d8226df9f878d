"""The agentic loop: stream a reply, run the tools it asks for, repeat; UI-agnostic.

A host (the TUI chat pane, the `ask` CLI) drives an AgentSession and consumes its events.
Actions are only proposed by the model: the host's decision callback decides.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import openai
from loguru import logger

from tui.actions import Action, ActionResult, ActionRunner, run_reported
from tui.agent.budget import (
    DEFAULT_CONTEXT_BUDGET_TOKENS,
    DEFAULT_MAX_RESULT_CHARS,
    cap_result,
    trim_to_budget,
)
from tui.agent.client import HTTP_ERRORS, AgentClient, describe_error
from tui.agent.events import (
    ActionDecided,
    ActionProposed,
    AgentEvent,
    Failed,
    Finished,
    ReasoningDelta,
    StepStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from tui.agent.prompts import system_prompt
from tui.agent.raw_stream import ModelStreamError
from tui.agent.stream import AssembledCall, ToolCallAssembler, delta_reasoning
from tui.agent.tool_context import ToolContext, ToolError
from tui.agent.tool_helpers import check_targets_exist
from tui.agent.tool_registry import ALL_TOOLS, check_arguments, offered_tools, serialise
from tui.text import one_line

DEFAULT_MAX_STEPS = 12
PREVIEW_CHARS = 120
# A tool error is one line an operator and the model read, never a page (it may quote input).
MAX_TOOL_ERROR_CHARS = 500
READONLY_ANSWER = "actions are disabled: read-only mode"
DESCRIBE_ONLY_ANSWER = "not run: actions are only described here"
REJECTED_ANSWER = "rejected by the operator: not run"
FINAL_STEP_NOTE = (
    "Step limit reached: no more tools. Answer now with what you found, and say what is "
    "still unknown."
)
REPEAT_NOTE = "(identical call already made in this question; same result) "
CANCELLED_NOTE = "(answer interrupted by the operator)"

# Host callbacks. decide: run the action after the operator agreed (-> its result), or None
# when rejected. audit: record an executed action. recorder: persist a committed message.
DecisionCallback = Callable[[Action], Awaitable[ActionResult | None]]
AuditCallback = Callable[[Action, ActionResult], Awaitable[None]]
MessageRecorder = Callable[[dict[str, Any]], Awaitable[None]]
Emit = Callable[[AgentEvent], None]


@dataclass(frozen=True)
class LoopConfig:
    max_steps: int = DEFAULT_MAX_STEPS
    max_result_chars: int = DEFAULT_MAX_RESULT_CHARS
    context_budget_tokens: int = DEFAULT_CONTEXT_BUDGET_TOKENS
    temperature: float | None = None


def confirm_then_run(
    confirm: Callable[[Action], Awaitable[bool]], runner: ActionRunner
) -> DecisionCallback:
    """A decision callback: ask the operator (e.g. a dialog), run through the runner if yes."""

    async def decide(action: Action) -> ActionResult | None:
        if not await confirm(action):
            return None
        return await run_reported(runner, action)

    return decide


@dataclass
class _ToolOutcome:
    content: str
    error: str | None


@dataclass
class _StepReply:
    text: str
    calls: list[AssembledCall]


def _canonical(name: str, arguments: str) -> tuple[str, str]:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return (name, arguments)
    return (name, json.dumps(parsed, sort_keys=True, separators=(",", ":")))


class AgentSession:
    """One conversation with the model. `ask()` runs one question; history is kept here.

    `messages` holds user/assistant/tool messages (the system prompt is rebuilt from the
    latest snapshot on every request). A step's assistant message and its tool results are
    committed together, so a cancelled or failed run never leaves a call without a result.
    """

    def __init__(
        self,
        client: AgentClient,
        context: ToolContext,
        *,
        decide: DecisionCallback | None = None,
        audit: AuditCallback | None = None,
        recorder: MessageRecorder | None = None,
        config: LoopConfig | None = None,
        messages: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.client = client
        self.context = context
        self.decide = decide
        self.audit = audit
        self.recorder = recorder
        self.config = config or LoopConfig()
        self.messages: list[dict[str, Any]] = [dict(m) for m in messages]

    def reset(self, messages: Sequence[dict[str, Any]] = ()) -> None:
        """Start over (new conversation) or continue a saved one."""
        self.messages = [dict(m) for m in messages]

    async def ask(self, question: str) -> AsyncIterator[AgentEvent]:
        """Run one question, yielding events; the last one is Finished or Failed.

        Cancel the consuming task (Esc) to stop: the run is cancelled with it.
        """
        queue: asyncio.Queue[AgentEvent | None] = asyncio.Queue()

        async def produce() -> None:
            try:
                await self.run(question, queue.put_nowait)
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(produce())
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            if not task.done():
                task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def run(self, question: str, emit: Emit) -> str | None:
        """Callback form of `ask()`: the final text, or None after Failed."""
        await self._commit({"role": "user", "content": question})
        cache: dict[tuple[str, str], asyncio.Future[_ToolOutcome]] = {}
        partial: list[str] = []
        try:
            for step in range(1, self.config.max_steps + 1):
                final = step == self.config.max_steps
                emit(StepStarted(step, final))
                partial.clear()
                reply = await self._stream_step(final, emit, partial)
                if reply.calls and not final:
                    outcomes = await asyncio.gather(
                        *(self._call_tool(call, cache, emit) for call in reply.calls)
                    )
                    await self._commit_step(reply, outcomes)
                    continue
                text = reply.text.strip()
                if not text:
                    raise _NoAnswer("the model returned an empty answer")
                await self._commit({"role": "assistant", "content": reply.text})
                emit(Finished(reply.text))
                return reply.text
        except asyncio.CancelledError:
            text = "".join(partial).strip()
            await asyncio.shield(
                self._commit({"role": "assistant", "content": f"{text}\n{CANCELLED_NOTE}".strip()})
            )
            raise
        except (openai.OpenAIError, *HTTP_ERRORS, ModelStreamError, _NoAnswer) as error:
            message = (
                str(error)
                if isinstance(error, _NoAnswer)
                else describe_error(error, self.client.settings)
            )
            logger.warning("agent request failed: {}", message)
            await self._commit({"role": "assistant", "content": f"(no answer: {message})"})
            emit(Failed(message))
        return None

    # ------------------------------------------------------------ model

    def _request_messages(self, final: bool) -> list[dict[str, Any]]:
        system = {
            "role": "system",
            "content": system_prompt(self.context.snapshot(), self.context.readonly),
        }
        history = trim_to_budget(self.messages, self.config.context_budget_tokens)
        tail = [{"role": "user", "content": FINAL_STEP_NOTE}] if final else []
        return [system, *history, *tail]

    async def _stream_step(self, final: bool, emit: Emit, partial: list[str]) -> _StepReply:
        params: dict[str, Any] = {}
        if not final:
            params["tools"] = [spec.schema() for spec in offered_tools(self.context.readonly)]
            params["tool_choice"] = "auto"
        if self.config.temperature is not None:
            params["temperature"] = self.config.temperature
        assembler = ToolCallAssembler()
        async for delta in self.client.stream_deltas(self._request_messages(final), **params):
            reasoning = delta_reasoning(delta)
            if reasoning:
                emit(ReasoningDelta(reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                partial.append(content)
                emit(TextDelta(content))
            for part in delta.get("tool_calls") or ():
                function = part.get("function") or {}
                assembler.add(
                    part.get("index"),
                    part.get("id"),
                    function.get("name"),
                    function.get("arguments"),
                )
        return _StepReply("".join(partial), assembler.finished())

    # ------------------------------------------------------------ tools

    async def _call_tool(
        self,
        call: AssembledCall,
        cache: dict[tuple[str, str], asyncio.Future[_ToolOutcome]],
        emit: Emit,
    ) -> _ToolOutcome:
        emit(ToolCallStarted(call.id, call.name, call.arguments))
        key = _canonical(call.name, call.arguments)
        earlier = cache.get(key)
        if earlier is not None:
            first = await asyncio.shield(earlier)
            outcome = _ToolOutcome(REPEAT_NOTE + first.content, first.error)
        else:
            future: asyncio.Future[_ToolOutcome] = asyncio.get_running_loop().create_future()
            cache[key] = future
            try:
                outcome = await self._execute(call, emit)
            except BaseException:
                future.cancel()
                cache.pop(key, None)
                raise
            future.set_result(outcome)
        emit(
            ToolCallFinished(
                call.id,
                call.name,
                one_line(outcome.content, PREVIEW_CHARS),
                outcome.content,
                outcome.error,
            )
        )
        return outcome

    async def _execute(self, call: AssembledCall, emit: Emit) -> _ToolOutcome:
        try:
            spec = ALL_TOOLS.get(call.name)
            if spec is None:
                names = ", ".join(s.name for s in offered_tools(self.context.readonly))
                raise ToolError(f"unknown tool {call.name!r}; available: {names}")
            if spec.action and self.context.readonly:
                raise ToolError(READONLY_ANSWER)
            try:
                raw = json.loads(call.arguments or "{}")
            except ValueError as error:
                raise ToolError(
                    f"arguments are not valid JSON ({one_line(error, 80)}); "
                    "send them again as one JSON object"
                ) from None
            if not isinstance(raw, dict):
                raise ToolError("arguments must be a JSON object")
            arguments = check_arguments(spec, raw)
            if spec.action:
                data: Any = await self._propose(call, spec.propose(arguments), emit)
            else:
                data = await spec.run(self.context, arguments)
        except ToolError as error:
            # Errors may quote the arguments: capped like any result.
            message = one_line(error, MAX_TOOL_ERROR_CHARS)
            return self._error_outcome(message)
        except Exception as error:
            logger.exception("tool {} failed", call.name)
            message = f"{call.name} failed: {one_line(error, MAX_TOOL_ERROR_CHARS)}"
            return self._error_outcome(message)
        return _ToolOutcome(cap_result(serialise(data), self.config.max_result_chars), None)

    def _error_outcome(self, message: str) -> _ToolOutcome:
        return _ToolOutcome(
            cap_result(serialise({"error": message}), self.config.max_result_chars), message
        )

    async def _propose(self, call: AssembledCall, action: Action, emit: Emit) -> dict[str, Any]:
        check_targets_exist(self.context.snapshot(), action)
        emit(ActionProposed(action, call.id))
        result: ActionResult | None = None
        if self.decide is None:
            message = DESCRIBE_ONLY_ANSWER
        else:
            result = await self.decide(action)
            if result is None:
                message = REJECTED_ANSWER
            else:
                message = ("done: " if result.ok else "failed: ") + result.message
                await self._audit(action, result)
        emit(ActionDecided(action, call.id, result, message))
        return {"action": action.describe(), "outcome": message}

    async def _audit(self, action: Action, result: ActionResult) -> None:
        if self.audit is None:
            return
        try:
            await self.audit(action, result)
        except Exception:
            logger.exception("could not audit {}", action.describe())

    # ------------------------------------------------------------ history

    async def _commit(self, *messages: dict[str, Any]) -> None:
        """Append messages at once (no await in between), then save them, even if cancelled."""
        self.messages.extend(messages)
        if self.recorder is not None:
            await asyncio.shield(self._record(messages))

    async def _record(self, messages: Sequence[dict[str, Any]]) -> None:
        assert self.recorder is not None
        for message in messages:
            try:
                await self.recorder(message)
            except Exception:
                logger.exception("could not save a chat message")

    async def _commit_step(self, reply: _StepReply, outcomes: Sequence[_ToolOutcome]) -> None:
        assistant = {
            "role": "assistant",
            "content": reply.text or None,
            "tool_calls": [call.as_message_part() for call in reply.calls],
        }
        results = [
            {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": outcome.content}
            for call, outcome in zip(reply.calls, outcomes, strict=True)
        ]
        await self._commit(assistant, *results)


class _NoAnswer(Exception):
    pass
