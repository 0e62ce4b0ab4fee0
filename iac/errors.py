"""The one base error: anything a user can fix by changing their input or environment."""

from __future__ import annotations

from typing import Any

from iac.words import plural

# The exit status of a change applied whose CDN cache invalidation failed (`iac.gcp.invalidate.InvalidationError`).
EXIT_INVALIDATION_FAILED = 3


class IacError(Exception):
    """An error the CLI reports as one message on stderr and exit status `exit_code`, without a traceback."""

    exit_code: int = 1

    def lines(self) -> list[str]:
        """What the CLI prints, one `error: ` line each."""
        return [str(self)]

    def details(self) -> dict[str, Any]:
        """What a `--json` failure document carries beside `ok`, `exit_code` and `error`."""
        return {}

    def to_json(self) -> dict[str, Any]:
        """The one document a `--json` command prints on stdout when it fails."""
        return {"ok": False, "exit_code": self.exit_code, "error": "\n".join(self.lines()), **self.details()}


class ConfigError(IacError):
    """The config file is missing, unreadable, not YAML, or has invalid values.

    `problems` holds one line per problem, each already naming the file, line and field.
    """

    def __init__(self, problems: list[str], *, writes: bool = True) -> None:
        self.problems = problems
        # False for a command that only reads (`iac validate`): "nothing was written" would suggest it writes.
        self.writes = writes
        super().__init__("\n".join(problems))

    def read_only(self) -> ConfigError:
        """The same problems, for a command that writes nothing anyway."""
        return ConfigError(self.problems, writes=False)

    def lines(self) -> list[str]:
        count = plural(len(self.problems), "problem")
        return [*self.problems, f"{count}; nothing was written" if self.writes else count]

    def details(self) -> dict[str, Any]:
        return {"problems": list(self.problems)}


class Interrupted(IacError):
    """iac received SIGINT, SIGTERM or SIGHUP (a cancelled CI job, Ctrl-C) and stopped what it was doing.

    Raised rather than exiting so that `finally` blocks run (the plan file, which holds the secret, is
    deleted). Not a failure: the CLI exits with `exit_code`, 128 + the signal number (130 SIGINT,
    143 SIGTERM, 129 SIGHUP), as a shell does for a process a signal stopped.
    """

    def __init__(self, signum: int, detail: str) -> None:
        import signal

        self.signum = signum
        self.exit_code = 128 + signum
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(f"interrupted by {name}: {detail}")
