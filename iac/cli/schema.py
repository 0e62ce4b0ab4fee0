"""`iac schema`: the config's JSON Schema, for editors and `check-jsonschema`. It is made in iac.config.schema_json.

`app` holds the one command; iac.cli.group names this module in COMMAND_MODULES.
"""

# No `from __future__ import annotations`: Typer reads the commands' annotations (see iac/cli/__init__.py).
from pathlib import Path
from typing import Annotated

import typer

from iac.cli.group import HELP_OPTIONS, MARKUP, IacCommand
from iac.errors import IacError

SchemaOutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        metavar="FILE",
        help="Write the schema to FILE (replaced whole, never left half-written) instead of printing it.",
        dir_okay=False,
        show_default=False,
    ),
]

app = typer.Typer(rich_markup_mode=MARKUP, add_completion=False, context_settings=HELP_OPTIONS)


@app.command(name="schema", cls=IacCommand)
def schema(output: SchemaOutputOption = None) -> None:
    """Print the JSON Schema (draft 2020-12) of the config file: keys, types, choices, bounds, defaults and
    what each key means.

    Editors check iac.yaml against it as you type when the file's first line names it, as the line
    `iac init` writes (with the schema beside the config) does:

    \b
        # yaml-language-server: $schema=./iac.schema.json

    `check-jsonschema --schemafile iac.schema.json iac.yaml` checks the same in CI or pre-commit. Names,
    addresses and rules across fields are only checked by `iac validate`.

    Example: iac schema -o iac.schema.json
    """
    from iac.config.schema_json import schema_text
    from iac.files.atomic import write_atomic

    text = schema_text()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomic(output, text.encode())
    except OSError as exc:
        raise IacError(f"{output}: cannot write the schema: {exc.strerror}") from None
    typer.echo(f"Wrote {output}: the JSON Schema of iac.yaml.", err=True)
