"""The cluster assistant: a streaming tool-calling loop over any OpenAI-compatible server.

Hosts (the chat pane, `clusterdash ask`) use:
- setup.tool_context(settings, snapshot, history, alerts) -> tools.ToolContext
- setup.make_session(settings, context, decide=..., store=..., conversation=...) -> AgentSession
- loop.AgentSession.ask(question): async iterator of events.AgentEvent (last: Finished/Failed);
  cancel the consuming task to stop. loop.confirm_then_run(confirm, runner) builds `decide`.
- slash.run_slash(context, text) -> SlashResult (Markdown), no model needed.
- history.ChatHistory(store): new(), list(), resume(id), export_markdown(id).
- client.check_health(settings) / AgentClient.health() -> SourceHealth named "agent".
"""
