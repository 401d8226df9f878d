"""The cluster assistant: a streaming tool-calling loop over any OpenAI-compatible server.

Hosts (the chat pane, `clusterdash ask`, `clusterdash mcp`) use:
- tool_context.ToolContext.from_settings(settings, snapshot, history, alerts): what tools read
- setup.make_session(settings, context, decide=..., store=..., conversation=...) -> AgentSession
  (None when no model endpoint is configured)
- loop.AgentSession.ask(question): async iterator of events.AgentEvent (last: Finished/Failed);
  cancel the consuming task to stop. loop.confirm_then_run(confirm, runner) builds `decide`.
- tool_registry: each tool's schema and argument check, from its declaration in tools.py.
- slash.run_slash(context, text) -> SlashResult (Markdown), no model needed.
- history.ChatHistory(store): new(), list(), resume(id), export_markdown(id).
- client.check_health(settings) / AgentClient.health() -> SourceHealth named "agent".
"""
