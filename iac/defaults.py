"""Defaults that `--help` shows and the modules use, kept apart so that reading them imports nothing else.

Typer builds every option of a command line, defaults included, before the command runs: a default kept in
the module that uses it would import that module (and all it imports) for `iac --help` too (issue 17).
"""

# How long a command waits for a lock: the config file's, the output directory's, Terraform's state lock.
DEFAULT_LOCK_TIMEOUT = "300s"
# `iac allowlist denied`: the window it reads back (a duration) and the most log entries it reads.
DEFAULT_SINCE = "24h"
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000  # 100 full pages of the log, within the page limit of iac.untrusted.Bounds
