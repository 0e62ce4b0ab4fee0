"""iac's check of option values (iac/cli/group.py, `PlainValue`) against Typer's own (pydantic), value by value.

iac checks option values itself so that no command imports pydantic (issue 17). That is only honest while it
accepts and refuses exactly what Typer does, with the same value and the same words: each value below runs
through both and the outcomes are compared. And since `PlainValue` rests on Typer's private API, every way
that API could change in a later Typer is simulated: iac must then fall back to Typer's checks, never crash.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from iac.cli import group
from iac.cli.group import IacCommand, IacGroup

probe = typer.Typer(
    cls=IacGroup, rich_markup_mode=group.MARKUP, context_settings=group.HELP_OPTIONS, add_completion=False
)


@probe.callback()
def probe_callback() -> None:
    """A group, as `iac` is: its commands' parameters are checked when the group hands over to them."""


@probe.command("show", cls=IacCommand)
def show(
    ctx: typer.Context,
    number: Annotated[int, typer.Option("--number")] = 0,
    least: Annotated[int, typer.Option("--least", min=1)] = 1,
    most: Annotated[int, typer.Option("--most", max=100)] = 0,
    text: Annotated[str, typer.Option("--text")] = "",
    path: Annotated[Path | None, typer.Option("--path")] = None,
    existing: Annotated[Path | None, typer.Option("--existing", exists=True, dir_okay=False)] = None,
    flag: Annotated[bool, typer.Option("--flag")] = False,
    numbers: Annotated[list[int] | None, typer.Option("--numbers")] = None,
    items: Annotated[list[str] | None, typer.Argument()] = None,
) -> None:
    """Print the values the command received, and which check read them."""
    values = {
        "number": number,
        "least": least,
        "most": most,
        "text": text,
        "path": None if path is None else [type(path).__name__, str(path)],
        "existing": None if existing is None else str(existing),
        "flag": flag,
        "numbers": numbers,
        "items": items,
    }
    typer.echo(json.dumps(values))
    checks = {type(getattr(param, "_runtime_param", None)).__name__ for param in ctx.command.params}
    typer.echo(json.dumps(sorted(checks)), err=True)


# What iac refuses on purpose although Typer accepts it: a whole number beyond the option's maximum, MAX_INTEGER
# when it sets none, or below minus that maximum when it sets no minimum. A count, a limit or a size that large
# is a mistake, and Typer would hand it to the command however many digits it has (up to 4300).
HUGE = ["9" * 4300, "9" * 4301, "+" + "9" * 4300, "-" + "9" * 4300, "1_" * 4300 + "1", "0" * 4300 + "1"]


def iac_refuses(typer_out: str) -> str | None:
    """Why iac refuses values Typer accepted (`typer_out`, the values the command got), or None."""
    values = json.loads(typer_out)
    bounded = [(number, group.MAX_INTEGER) for number in [values["number"], *(values["numbers"] or [])]]
    for number, most in [*bounded, (values["most"], 100)]:
        if number > most:
            return f"is over the maximum: give at most {most:,}"
        if number < -most:
            return f"is below the minimum: give at least {-most:,}"
    return None


NUMBERS = [
    "5",
    "5_000",
    "1_000.0",
    "5__000",
    "_5",
    "5_",
    "2.0",
    "2.00",
    "-0.0",
    "2.",
    "2.5",
    ".0",
    "1e3",
    "0x10",
    "+5",
    "-5",
    "+-5",
    "- 5",
    "007",
    " 5",
    "5 ",
    "\t5\n",
    "\xa05",  # no-break space: Unicode White_Space, stripped
    "\x855",  # next line: likewise
    "\u30005",  # ideographic space: likewise
    "\x1c5",  # a file separator: Python's str.strip strips it, Typer does not
    "\u200b5",  # zero-width space: not White_Space
    "\u0663",  # Arabic-Indic digit three: Python's int() reads it, Typer does not
    "\uff15",  # fullwidth digit five
    "\u0663.0",
    "",
    " ",
    "5\x00",
    "9" * 30,
    "-" + "9" * 30,
    "1" + "_0" * 100,
    "9" * 4299,
    "-" + "9" * 4299,
    *HUGE,
]

CASES: list[tuple[str, ...]] = [
    *(("--number", value) for value in NUMBERS),
    *(("--least", value) for value in ["1", "0", "-1", "+1", "1.0", "0.0", "x", "1_000"]),
    *(("--most", value) for value in ["100", "101", "1_00", "100.0", "-5", "9" * 30, "-" + "9" * 30]),
    ("--number", "1000000000"),
    ("--number", "-1000000000"),
    ("--number=-3",),
    ("--text", ""),
    ("--text", "  spaced \u0663 "),
    ("--text", "-"),
    ("--path", "some/file.txt"),
    ("--path", ""),
    ("--path", "."),
    ("--path", "~/x"),
    ("--existing", "pyproject.toml"),
    ("--existing", "no-such-file"),
    ("--existing", "tests"),
    ("--flag",),
    ("--flag", "--flag"),
    ("--numbers", "1", "--numbers", "2_0", "--numbers", "3.0"),
    ("--numbers", "1", "--numbers", "x"),
    ("a", "b", "c"),
    ("--", "-x", "5"),
    ("--number",),
]


def run(args: tuple[str, ...]) -> tuple[int, str, str]:
    result = CliRunner().invoke(probe, ["show", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def outcome(args: tuple[str, ...], *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str, str]:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(group, "_plain_value_class", lambda: None)
        code, out, err = run(args)
    checks, _, message = err.partition("\n") if code == 0 else ("", "", err)
    return code, out, message, checks


@pytest.mark.parametrize("args", CASES, ids=repr)
def test_iac_accepts_and_refuses_exactly_what_typer_does(args: tuple[str, ...], monkeypatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    typer_code, typer_out, typer_message, _ = outcome(args, fast=False, monkeypatch=monkeypatch)
    code, out, message, checks = outcome(args, fast=True, monkeypatch=monkeypatch)
    if typer_code == 0 and (why := iac_refuses(typer_out)):
        assert (code, out) == (1, "")
        assert why in message
        return
    assert (code, out) == (typer_code, typer_out), "the same verdict, and the same values reach the command"
    if code == 0:
        assert "PlainValue" in checks, "iac's own check read the values (else this compares Typer with itself)"
    else:  # about the same option (iac may say more, e.g. which digits it reads)
        assert _refusal(message) == _refusal(typer_message)


def _refusal(message: str) -> str:
    """Which option a usage error refuses: its "Invalid value for '--x'" (or the whole message)."""
    line = next((line for line in message.splitlines() if "Invalid value for" in line), message)
    return line.partition(":")[0]


# --- a Typer whose private API changed: iac falls back to Typer's own checks -----------------------------------


def _no_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "typer._coercion", None)  # import raises ImportError


def _no_function(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer._param_types

    monkeypatch.delattr(typer._param_types, "coerce_cli_path")


def _abstract_method_added(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer._coercion

    @dataclasses.dataclass(frozen=True)
    class Newer(typer._coercion.RuntimeParam):
        @abc.abstractmethod
        def describe(self) -> str: ...

    monkeypatch.setattr(typer._coercion, "RuntimeParam", Newer)


def _signature_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer._param_types

    original = typer._param_types.coerce_cli_path

    def coerce_cli_path(value: Any, parameter_info: Any, *, path_type: Any, param: Any, ctx: Any, strict: bool) -> Any:
        return original(value, parameter_info, path_type=path_type, param=param, ctx=ctx)

    monkeypatch.setattr(typer._param_types, "coerce_cli_path", coerce_cli_path)


def _method_signature_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer._coercion

    @dataclasses.dataclass(frozen=True)
    class Newer(typer._coercion.RuntimeParam):
        @abc.abstractmethod
        def _coerce_value(self, value: Any, *, param: Any, ctx: Any, source: Any) -> Any: ...

    monkeypatch.setattr(typer._coercion, "RuntimeParam", Newer)


def _field_added(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer._coercion

    @dataclasses.dataclass(frozen=True)
    class Newer(typer._coercion.RuntimeParam):
        source: str

    monkeypatch.setattr(typer._coercion, "RuntimeParam", Newer)


def _attribute_renamed(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer.core

    annotations = dict(typer.core._TyperParameter.__annotations__)
    annotations["_coercion"] = annotations.pop("_runtime_param")
    monkeypatch.setattr(typer.core._TyperParameter, "__annotations__", annotations)


def _base_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer._coercion

    class Broken(typer._coercion.RuntimeParam):
        def __init_subclass__(cls, **kwargs: Any) -> None:
            raise RuntimeError("a base class that refuses subclasses")

    monkeypatch.setattr(typer._coercion, "RuntimeParam", Broken)


MISMATCHES = [
    _no_module,
    _no_function,
    _abstract_method_added,
    _signature_changed,
    _method_signature_changed,
    _field_added,
    _attribute_renamed,
    _base_raises,
]


@pytest.fixture
def fresh_detection() -> Iterator[None]:
    group._plain_value_class.cache_clear()
    yield
    group._plain_value_class.cache_clear()


@pytest.mark.parametrize("mismatch", MISMATCHES, ids=lambda f: f.__name__.strip("_"))
def test_a_typer_of_another_shape_means_typers_own_checks(mismatch: Any, fresh_detection: None, monkeypatch) -> None:
    """Detected once, whatever the difference: the commands work, with Typer's checks instead of iac's."""
    with monkeypatch.context() as patch:
        mismatch(patch)
        assert group._plain_value_class() is None
    code, out, err = run(("--number", "5_000", "--least", "2", "--flag", "x"))
    assert code == 0, err
    assert json.loads(out)["number"] == 5000 and json.loads(out)["items"] == ["x"]
    assert "PlainValue" not in err
    code, out, err = run(("--least", "0"))
    assert code == 1 and "Input should be greater than or equal to 1" in err


def test_a_real_command_runs_on_typers_checks_too(cli, fresh_detection: None, monkeypatch, tmp_path: Path) -> None:
    from conftest import EXAMPLES

    with monkeypatch.context() as patch:
        _abstract_method_added(patch)
        assert group._plain_value_class() is None
    result = cli("validate", "-c", EXAMPLES / "documented" / "iac.yaml", "-o", tmp_path / "build")
    assert result.exit_code == 0, result.output
    result = cli("manifest", "generate", "-o", tmp_path / "m", "--jobs", "many")
    assert result.exit_code == 1
    assert "Invalid value for '--jobs' / '-j': Input should be a valid integer" in result.stderr


def test_the_typer_this_was_written_against_is_detected(fresh_detection: None) -> None:
    assert group._plain_value_class() is not None
