"""`clusterdash mcp`: the assistant's tools for any MCP client, over stdio.

command.py is the entry point (it needs the optional `mcp` extra), reader.py where the
cluster is read, server.py the protocol handlers, confirm.py the operator's confirmation.
"""
