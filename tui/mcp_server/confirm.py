"""The operator's yes or no to one action, asked through MCP elicitation.

Clients on the handshake protocol revisions (up to 2025-11-25) get an `elicitation/create`
request in the middle of the tool call. Clients on the newer per-request revisions get an
InputRequiredResult and call again with the answer; the answer counts only when it is for
the exact question asked (keyed by its digest) and comes back with the state this server
signed, so no client can answer a question it was never shown.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

CONFIRM_FIELD = "confirm"
CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        CONFIRM_FIELD: {
            "type": "boolean",
            "title": "Run this command",
            "description": "true runs it now; false or decline runs nothing",
        }
    },
    "required": [CONFIRM_FIELD],
}


class Answer(Enum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    # The client declared no form elicitation: nobody can be asked, so nothing runs.
    CANNOT_ASK = "cannot ask"


def can_ask(ctx: ServerRequestContext[Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # A bare `elicitation: {}` (before modes existed) means form support; url-only does not.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _accepted(result: types.ElicitResult) -> Answer:
    content = result.content or {}
    if result.action == "accept" and content.get(CONFIRM_FIELD) is True:
        return Answer.ACCEPTED
    return Answer.DECLINED


@dataclass(frozen=True)
class Confirmer:
    """Asks through the client; `secret` signs the questions of this server process."""

    secret: bytes = field(default_factory=lambda: os.urandom(32))

    async def ask(
        self,
        ctx: ServerRequestContext[Any],
        params: types.CallToolRequestParams,
        message: str,
    ) -> Answer | types.InputRequiredResult:
        if not can_ask(ctx):
            return Answer.CANNOT_ASK
        if ctx.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS:
            result = await ctx.session.elicit_form(
                message, CONFIRM_SCHEMA, related_request_id=ctx.request_id
            )
            return _accepted(result)
        question = types.ElicitRequest(
            params=types.ElicitRequestFormParams(message=message, requested_schema=CONFIRM_SCHEMA)
        )
        key = "confirm-" + hashlib.sha256(message.encode()).hexdigest()[:32]
        state = hmac.new(self.secret, key.encode(), hashlib.sha256).hexdigest()
        answer = (params.input_responses or {}).get(key)
        signed = params.request_state is not None and hmac.compare_digest(
            params.request_state, state
        )
        if not isinstance(answer, types.ElicitResult) or not signed:
            return types.InputRequiredResult(input_requests={key: question}, request_state=state)
        return _accepted(answer)
