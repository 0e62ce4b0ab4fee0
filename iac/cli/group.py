"""The Click classes every iac command runs in: errors become exit codes here, and --help follows Click's conventions.

- `IacGroup.invoke` turns an `IacError` raised by any command into its message on stderr (`error: ...`) and its
  `exit_code`, for the installed script and `CliRunner` alike; commands just let the error propagate.
- Help text flows: the paragraphs of a docstring are joined into single lines and the terminal wraps them (a
  paragraph starting with `\\b` is kept as written, as Click does), and a flag shows no value type.
"""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any

import typer
import typer.core
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from iac.errors import IacError
from iac.invalidate import InvalidationError
from iac.untrusted import printable

# The exit statuses, as `iac --help` lists them. An IacError exits with its own `exit_code`.
EXIT_OK = 0
EXIT_ERROR = IacError.exit_code  # invalid input, usage error or failure
EXIT_CHANGES = 2  # iac plan: like terraform plan -detailed-exitcode
EXIT_INVALIDATION_FAILED = InvalidationError.exit_code

# Click exits 2 on a usage error, but 2 is what `iac plan` returns for "changes planned" (as terraform
# plan -detailed-exitcode does): a pipeline must never read a mistyped option as a plan. Like Terraform,
# iac exits 1 on usage errors. Typer 0.29+ vendors Click as typer._click (and exports none of its types,
# hence the `typer._click` annotations below); older releases use Click itself.
_click_module: Any = getattr(typer.core, "_click", None) or __import__("click")
_click_module.exceptions.UsageError.exit_code = EXIT_ERROR

# Help as wide as the terminal (Click stops at 80 columns otherwise).
HELP_OPTIONS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 10_000}


def reflow(text: str | None) -> str | None:
    """`text` with each paragraph on one line, for the terminal to wrap; a `\\b` paragraph stays as written."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        paragraph.removeprefix("\b\n") if paragraph.startswith("\b") else " ".join(paragraph.split())
        for paragraph in paragraphs
    )


def _follow_click_help_conventions(command: TyperCommand | TyperGroup, ctx: typer._click.Context) -> None:
    """Typer's help keeps a docstring's line breaks and shows a flag's annotation (`<bool>`) and an argument's
    (`<list[str]>`) as its type; Click rewraps paragraphs and shows no type for a flag, which takes no value, nor
    beside an argument's metavar."""
    command.help = reflow(command.help)
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        if isinstance(param, TyperArgument) and param.metavar is not None:
            # The metavar (CIDR, FILE) says what the value is: no Python type (`<list[str]>`) beside it.
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]


class IacCommand(TyperCommand):
    """An iac command: help as Click formats it (see the module docstring); with `--json`, a failure is one JSON
    document on stdout too (`IacError.to_json`), usage errors included."""

    def parse_args(self, ctx: typer._click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _click_module.exceptions.UsageError as error:
            if "--json" in args and any(param.name == "as_json" for param in self.params):
                usage = IacError(f"{error.format_message()} (see iac {ctx.command_path.partition(' ')[2]} --help)")
                typer.echo(json.dumps(usage.to_json(), indent=2))
            raise

    def invoke(self, ctx: typer._click.Context) -> object:
        try:
            return super().invoke(ctx)
        except IacError as error:
            if ctx.params.get("as_json"):
                typer.echo(json.dumps(error.to_json(), indent=2))
            raise

    def format_help(self, ctx: typer._click.Context, formatter: typer._click.HelpFormatter) -> None:
        _follow_click_help_conventions(self, ctx)
        super().format_help(ctx, formatter)


class IacGroup(TyperGroup):
    """The `iac` command and its command groups: IacError -> message and exit code; help as Click formats it."""

    def invoke(self, ctx: typer._click.Context) -> object:
        try:
            return super().invoke(ctx)
        except IacError as error:
            for line in error.lines():
                # Errors quote Terraform, servers and APIs: their control characters are escaped.
                typer.echo(f"error: {printable(line, lines=True)}", err=True)
            raise typer.Exit(error.exit_code) from None

    def format_help(self, ctx: typer._click.Context, formatter: typer._click.HelpFormatter) -> None:
        _follow_click_help_conventions(self, ctx)
        for command in self.commands.values():
            command.help = reflow(command.help)  # the first paragraph is the summary in the list of commands
        super().format_help(ctx, formatter)


def command_group(help_text: str, example: str) -> typer.Typer:
    """A command group (`iac allowlist`, ...), to register with `app.add_typer`."""
    return typer.Typer(
        cls=IacGroup,
        rich_markup_mode=None,  # Click's help, as `iac`'s
        help=help_text,
        epilog=f"Example: {example}",
        no_args_is_help=True,
        context_settings=HELP_OPTIONS,
    )


def handed_in() -> object | None:
    """The object a caller handed to the command line (`app(obj=...)`, `CliRunner().invoke(app, ..., obj=...)`)."""
    # Click's own module (vendored as typer._click.globals by Typer 0.29+, click.globals before).
    current = importlib.import_module(f"{_click_module.__name__}.globals").get_current_context
    ctx = current(silent=True)
    return None if ctx is None else ctx.find_root().obj
