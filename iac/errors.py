"""The one base error: anything a user can fix by changing their input or environment."""


class IacError(Exception):
    """An error the CLI reports as one message and exit status 1, without a traceback."""


class ConfigError(IacError):
    """The config file is missing, unreadable, not YAML, or has invalid values.

    `problems` holds one line per problem, each already naming the file, line and field.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
