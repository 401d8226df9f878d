"""Process exit codes shared by every command.

2 for bad input (config, arguments), 1 for a failure at run time.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SIGPIPE = 141  # 128 + SIGPIPE: what the shell reports for `yes | head`
