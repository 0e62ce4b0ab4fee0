"""The Click classes every iac command runs in: errors become exit codes here, and --help follows Click's conventions.

- `IacGroup.invoke` turns an `IacError` raised by any command into its message on stderr (`error: ...`) and its
  `exit_code`, for the installed script and `CliRunner` alike; commands just let the error propagate.
- A usage error (an unknown option, a missing argument, no such command) exits 1, not Click's 2: 2 is what
  `iac plan` returns for "changes planned" (as terraform plan -detailed-exitcode does), and a pipeline must never
  read a mistyped option as a plan. Only iac's own commands are concerned: Click itself is left as it is.
- Help is Click's plain formatter (Typer's rich one costs more start-up than the rest of `iac --help`): paragraphs
  wrapped to the terminal (a paragraph starting with `\\b` kept as written), and a flag shows no value type.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import signal
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

import typer
import typer.core
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from iac.errors import EXIT_INVALIDATION_FAILED as _INVALIDATION_FAILED
from iac.errors import IacError, Interrupted
from iac.untrusted import printable

# The exit statuses, as `iac --help` lists them. An IacError exits with its own `exit_code`.
EXIT_OK = 0
EXIT_ERROR = IacError.exit_code  # invalid input, usage error or failure
EXIT_CHANGES = 2  # iac plan: like terraform plan -detailed-exitcode
EXIT_INVALIDATION_FAILED = _INVALIDATION_FAILED

if TYPE_CHECKING:
    # The methods below override Click's, so they take Click's own Context (typer.Context is a subclass of it,
    # which an override may not narrow to); Typer 0.29+ vendors Click as typer._click and exports neither.
    from typer._click import Context, HelpFormatter

# Typer 0.29+ vendors Click as typer._click; older releases use Click itself. Only read from here.
_click_module: Any = getattr(typer.core, "_click", None) or __import__("click")
_UsageError: type[Exception] = _click_module.exceptions.UsageError

# Help as Click formats it, as wide as the terminal (Click stops at 80 columns unless told otherwise), and
# no rich markup: Typer then never imports rich.
HELP_OPTIONS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 1_000}
MARKUP = None


def summary(help_text: str) -> str:
    """The first paragraph of a command's help on one line: its entry in the list of commands, whole (Click
    would cut it at the first sentence or 45 characters)."""
    return " ".join(inspect.cleandoc(help_text).split("\n\n", 1)[0].split())


def _no_type_for_flags(command: TyperCommand | TyperGroup, ctx: Context) -> None:
    """A flag takes no value: its help shows no type for it (Typer would show its annotation, `<bool>`)."""
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        if isinstance(param, TyperArgument) and param.metavar is not None:
            # The metavar (CIDR, FILE) says what the value is: no Python type (`<list[str]>`) beside it, and in
            # the usage line as Click writes it (`CIDR...`, `[FILE]...`), not in Typer's braces (`{CIDR}...`).
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
            usage = (param.metavar if param.required else f"[{param.metavar}]") + ("..." if param.nargs != 1 else "")
            param._usage_display_name = lambda usage=usage: usage  # type: ignore[method-assign,misc]


def _plain_values(command: TyperCommand | TyperGroup, ctx: Context) -> None:
    """Check the values of iac's parameters without pydantic (the same checks, in the same words).

    Typer 0.29+ checks each parameter's value with a pydantic TypeAdapter, built when the command runs, and
    importing pydantic takes longer than the rest of `iac render` (issue 17). iac's parameters are text,
    paths, whole numbers (within bounds) and flags: `PlainValue` checks those; any other parameter, or a
    Typer whose private API is not the one this was written against, is left to Typer. Every parameter needs
    one: Typer builds its adapter before it looks at the value, even for a flag not given.
    """
    runtime = _plain_value_class()
    if runtime is None:
        return
    for param in command.get_params(ctx):  # --help included
        try:
            plain = _plain_value_for(param, runtime)
        except Exception:  # a parameter of a shape not foreseen: Typer checks it
            continue
        if plain is not None:
            setattr(param, "_runtime_param", plain)  # noqa: B010


def _plain_value_for(param: Any, runtime: Any) -> Any:
    """The PlainValue that checks `param`, or None when Typer should (or already has its own check)."""
    descriptor = getattr(param, "type_descriptor", None)
    if getattr(param, "_runtime_param", False) is not None or descriptor is None:
        return None
    annotation, info = descriptor.annotation, descriptor.parameter_info
    item = get_args(annotation)[0] if get_origin(annotation) is list else annotation
    plain = item in (str, Path, bool) or (item is int and not info.clamp)
    if plain and descriptor.file_annotation is None and info.parser is None:
        return runtime(parameter_info=info, annotation=annotation)
    return None


# A whole number as Typer (pydantic, in Rust) reads one from text: ASCII digits only (`\d` and int() take any
# script's), single underscores between them, a sign, a fraction of zeros (`2.0`), and around it what Rust's
# `str::trim` strips (Unicode White_Space, which is not Python's `str.strip`: that also strips U+001C-U+001F).
_INTEGER = re.compile(r"[+-]?[0-9](?:_?[0-9])*(?:\.0+)?")
_WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
_INTEGER_DIGITS = 20  # a longer number is beyond any option's maximum: not converted (4,300 digits would raise)
MAX_INTEGER = 1_000_000_000  # the maximum of a whole-number option that sets none


def _parse_integer(text: str, least: float | None, most: float | None) -> int | str:
    """`text` as a whole number the way Typer reads one, within `least` and `most` (MAX_INTEGER unless given;
    -most unless given); else the message that refuses it (in Typer's words, which digits included)."""
    written = _as_written(text)
    text = text.strip(_WHITESPACE)
    most = MAX_INTEGER if most is None else most
    if not _INTEGER.fullmatch(text):
        return f"{written} is not a whole number: write it with the digits 0-9, e.g. 16"
    negative = text.startswith("-")
    digits = text.partition(".")[0].replace("_", "").lstrip("+-").lstrip("0") or "0"
    number = int(digits) * (-1 if negative else 1) if len(digits) <= _INTEGER_DIGITS else None
    lowest = -most if least is None else least
    if (number is None and negative) or (number is not None and number < lowest):
        return f"{written} is below the minimum: give at least {_whole(lowest)}"
    if number is None or number > most:
        return f"{written} is over the maximum: give at most {_whole(most)}"
    return number


def _whole(bound: float) -> str:
    return f"{int(bound):,}" if float(bound).is_integer() else str(bound)


def _as_written(text: str) -> str:
    """A value as the user wrote it, quoted and escaped, cut short when it is long (a 5,000-digit number)."""
    shown = repr(text if len(text) <= 24 else text[:20])
    return shown if len(text) <= 24 else f"{shown[:-1]}…{shown[-1]} ({len(text):,} characters)"


@cache
def _plain_value_class() -> Any:
    """`PlainValue`, defined on Typer's own base class (once), or None when this Typer's private API is not the
    one it was written against (typer 0.29.x): then Typer's own checks run, slower but never broken."""
    try:
        return _define_plain_value()
    except Exception:  # an import, a name, a signature, an abstract method that changed: whatever it is
        return None


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def _define_plain_value() -> Any:
    """`PlainValue` on Typer's private `RuntimeParam`, after checking that API is the one it was written for
    (raises, of any kind, when it is not)."""
    import dataclasses

    from typer._coercion import RuntimeParam
    from typer._param_types import coerce_cli_path
    from typer.core import _TyperParameter
    from typer.models import OptionInfo

    expected = {
        "abstract methods": (set(RuntimeParam.__abstractmethods__), {"_coerce_value"}),
        "fields": ([field.name for field in dataclasses.fields(RuntimeParam)], ["parameter_info", "annotation"]),
        "_coerce_value": (_parameters(RuntimeParam._coerce_value), ["self", "value", "param", "ctx"]),
        "coerce_cli_path": (_parameters(coerce_cli_path), ["value", "parameter_info", "path_type", "param", "ctx"]),
        "_runtime_param": ("_runtime_param" in inspect.get_annotations(_TyperParameter), True),
    }
    for name, (found, wanted) in expected.items():
        if found != wanted:
            raise TypeError(f"typer's {name} is {found!r}, not {wanted!r}")

    @dataclass(frozen=True)
    class PlainValue(RuntimeParam):
        """A str, Path, int or bool value (or a list of them), checked as Typer's adapters check them."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            annotation: Any = self.annotation
            if get_origin(annotation) is list:
                items = value if isinstance(value, list | tuple) else [value]
                return [self._one(get_args(annotation)[0], item, param, ctx) for item in items]
            return self._one(annotation, value, param, ctx)

        def _one(self, kind: type, value: Any, param: Any, ctx: Any) -> Any:
            if (kind is str and isinstance(value, str)) or (kind is bool and isinstance(value, bool)):
                return value
            if kind is Path and isinstance(value, str | Path):
                return coerce_cli_path(Path(value), self.parameter_info, path_type=Path, param=param, ctx=ctx)
            if kind is int and isinstance(value, str):
                number = _parse_integer(value, self.parameter_info.min, self.parameter_info.max)
                if isinstance(number, str):
                    raise _click_module.exceptions.BadParameter(number, ctx=ctx, param=param)
                return number
            # Anything else (bytes from an odd shell, a default of another type): Typer's own check.
            from typer._coercion import build_runtime_param, resolve_type_descriptor

            descriptor = resolve_type_descriptor(kind, self.parameter_info)
            return build_runtime_param(descriptor)._coerce_value(value, param=param, ctx=ctx)

    # The class must be one Typer can build and use: a whole number read through it, once.
    if PlainValue(parameter_info=OptionInfo(), annotation=int)._coerce_value("5", None, None) != 5:
        raise TypeError("typer's RuntimeParam does not take PlainValue's checks")
    return PlainValue


def _json_asked(args: list[str]) -> bool:
    """Whether `--json` is among the options of a command line as given (after `--`, it is an argument)."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _usage_error(error: Exception, given: list[str], command: object, path: str) -> None:
    """A usage error raised while parsing an iac command line: exit status 1 (iac's, this error only); with
    `--json` anywhere on the line as given (and a command that takes it), the failure document on stdout,
    once however many parsers the error passes through."""
    error.exit_code = EXIT_ERROR  # type: ignore[attr-defined]
    takes_json = not isinstance(command, TyperCommand) or any(param.name == "as_json" for param in command.params)
    if takes_json and _json_asked(given) and not getattr(error, "iac_json_printed", False):
        error.iac_json_printed = True  # type: ignore[attr-defined]
        usage = IacError(f"{error.format_message()} (see {path} --help)")  # type: ignore[attr-defined]
        typer.echo(json.dumps(usage.to_json(), indent=2))


class _UsageErrorsExit1:
    """Parsing an iac command line (options, arguments, the command's name): a usage error exits 1, and is a
    JSON document when `--json` was given (decided from the arguments as given, whatever their order)."""

    def make_context(self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any) -> Any:
        given = list(args)  # Click's parser consumes `args` as it goes: what was asked is read from a copy
        try:
            return super().make_context(info_name, args, parent, **extra)  # type: ignore[misc]
        except _UsageError as error:
            path = " ".join(filter(None, [parent.command_path if parent else None, info_name]))
            _usage_error(error, given, self, path)
            raise


class IacCommand(_UsageErrorsExit1, TyperCommand):
    """An iac command: usage errors exit 1, help as Click formats it (see the module docstring); with `--json`,
    a failure is one JSON document on stdout too (`IacError.to_json`), usage errors included."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        _plain_values(self, ctx)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Context) -> object:
        """Run the command; SIGTERM and SIGHUP raise `Interrupted` meanwhile (as Ctrl-C does, below), so a
        stopped command runs its `finally` blocks and, with `--json`, still prints its one document."""
        from iac.signals import terminating_as_interrupt

        try:
            with terminating_as_interrupt():
                try:
                    return super().invoke(ctx)
                except KeyboardInterrupt:
                    raise Interrupted(signal.SIGINT, "iac stopped (run the command again)") from None
        except IacError as error:
            if ctx.params.get("as_json"):
                typer.echo(json.dumps(error.to_json(), indent=2))
            raise

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        _no_type_for_flags(self, ctx)
        super().format_help(ctx, formatter)


class IacGroup(_UsageErrorsExit1, TyperGroup):
    """The `iac` command and its command groups: IacError -> message and exit code, usage errors exit 1; help as
    Click formats it."""

    def invoke(self, ctx: Context) -> object:
        try:
            return super().invoke(ctx)
        except IacError as error:
            for line in error.lines():
                # Errors quote Terraform, servers and APIs: their control characters are escaped.
                typer.echo(f"error: {printable(line, lines=True)}", err=True)
            raise typer.Exit(error.exit_code) from None

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        _plain_values(self, ctx)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except _UsageError as error:  # no such command
            _usage_error(error, list(args), self, ctx.command_path)
            raise

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        _no_type_for_flags(self, ctx)
        for command in self.commands.values():
            if command.short_help is None and command.help:
                command.short_help = summary(command.help)
        super().format_help(ctx, formatter)


# The commands of `iac` that live in modules of their own, by name: each module's `app` (a Typer) is imported
# and built when its name is first looked up, so `iac render` reads none of them (issue 17). In the order
# `iac --help` lists them, after the commands of iac.cli itself.
COMMAND_MODULES = {
    "doctor": "iac.cli.doctor",
    "allowlist": "iac.cli.allowlist",
    "hmac": "iac.cli.hmac",
    "cors": "iac.cli.cors",
    "manifest": "iac.cli.manifest",
    "schema": "iac.cli.schema",
    "invalidate": "iac.cli.invalidate",
}


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands where some are only named (`name -> module`) until a lookup builds them."""

    def __init__(self, built: MutableMapping[str, Any], modules: dict[str, str]) -> None:
        self._built = dict(built)
        self._modules = {name: module for name, module in modules.items() if name not in self._built}

    def __getitem__(self, name: str) -> Any:
        if name in self._modules:
            command = typer.main.get_command(importlib.import_module(self._modules[name]).app)
            command.name = name
            self._built[name] = command
            del self._modules[name]
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._modules.pop(name, None)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if self._modules.pop(name, None) is None:
            del self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._modules

    def __iter__(self) -> Iterator[str]:
        yield from list(self._built)
        yield from list(self._modules)

    def __len__(self) -> int:
        return len(self._built) + len(self._modules)


class IacRootGroup(IacGroup):
    """`iac` itself: an IacGroup whose COMMAND_MODULES are imported when used (or listed by --help)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(self.commands, COMMAND_MODULES)


def command_group(help_text: str, example: str) -> typer.Typer:
    """A command group (`iac allowlist`, ...): the `app` of a module named in COMMAND_MODULES."""
    return typer.Typer(
        cls=IacGroup,
        rich_markup_mode=MARKUP,
        help=help_text,
        epilog=f"Example: {example}",
        no_args_is_help=True,
        add_completion=False,
        context_settings=HELP_OPTIONS,
    )


def handed_in() -> object | None:
    """The object a caller handed to the command line (`app(obj=...)`, `CliRunner().invoke(app, ..., obj=...)`)."""
    # Click's own module (vendored as typer._click.globals by Typer 0.29+, click.globals before).
    current = importlib.import_module(f"{_click_module.__name__}.globals").get_current_context
    ctx = current(silent=True)
    return None if ctx is None else ctx.find_root().obj
