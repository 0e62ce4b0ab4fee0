"""The documentation is code: the README stays a front door, its two commands are the ones that work (and the one
CI runs), every `iac` command any page shows parses, the rotation runs as written, and every relative link and
`#anchor` in README.md, CONTRIBUTING.md, docs/ and the examples' READMEs leads somewhere."""

from __future__ import annotations

import re
import shlex
import shutil
import unicodedata
from pathlib import Path

import pytest
import typer

from conftest import DOCUMENTATION, EXAMPLES, ROOT

README = ROOT / "README.md"
FENCE = re.compile(r"^```[^\n]*\n.*?^```[ \t]*$", re.S | re.M)
SHELL_BLOCK = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def shell_blocks(text: str) -> list[str]:
    return SHELL_BLOCK.findall(text)


def iac_commands(block: str) -> list[list[str]]:
    """Each `iac ...` command of a shell block, as its arguments (comments dropped, `&&` chains split)."""
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", "||", ";", "|"):
                if command and Path(command[0]).name == "iac":
                    found.append(command[1:])
                command = []
            else:
                command.append(word)
    return found


def shown_commands() -> list[tuple[str, list[str]]]:
    return [
        (name(path), args)
        for path in DOCUMENTATION
        for block in shell_blocks(path.read_text(encoding="utf-8"))
        for args in iac_commands(block)
    ]


def section(path: Path, heading: str) -> str:
    """The text under a `## heading` of a page, to the next heading of that level."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


# --- The README: a front door -------------------------------------------------------------------------------------


def test_the_readme_is_a_front_door_of_at_most_200_lines() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


def test_the_readme_links_every_docs_page_and_every_example() -> None:
    text = README.read_text(encoding="utf-8")
    pages = [name(page) for page in sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) >= 8
    examples = [f"examples/{p.name}/README.md" for p in sorted(EXAMPLES.iterdir()) if p.is_dir()]
    assert [target for target in [*pages, *examples, "CONTRIBUTING.md"] if f"]({target})" not in text] == []


def test_every_example_folder_has_a_readme_that_shows_how_to_run_it() -> None:
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        readme = folder / "README.md"
        assert readme.is_file(), f"{name(folder)}: add a README.md saying what it shows and how to run it"
        assert "```sh" in readme.read_text(encoding="utf-8"), name(readme)


def test_the_readme_test_command_is_the_line_ci_runs() -> None:
    """The second Quick start command, one line a user copies, venv first; `.ci/run` runs exactly that line."""
    [command] = [block.strip() for block in shell_blocks(section(README, "Quick start")) if "pytest" in block]
    assert "\n" not in command
    assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && "), command
    assert "bash tests/install-tools.sh" in command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert command in ci, ".ci/run must run the README's test command exactly as written"


def test_the_quick_start_renders_the_example(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first Quick start command: the install is CI's to prove; its `iac` part runs, from the repository root."""
    [block] = [block for block in shell_blocks(section(README, "Quick start")) if "pytest" not in block]
    assert block.startswith("python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/iac render")
    shutil.copytree(EXAMPLES / "documented", tmp_path / "examples" / "documented")
    monkeypatch.chdir(tmp_path)
    [args] = iac_commands(block)
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "build" / "serving" / "main.tf").is_file()
    assert (tmp_path / "build" / "allowlist" / "main.tf").is_file()
    assert cli("render", "--check", "-c", "examples/documented/iac.yaml", "-o", "build/").exit_code == 0


def test_the_path_from_config_to_infrastructure_runs_up_to_the_plan(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """init, allowlist add, validate as written on a fresh directory (plan and apply need Terraform and Google:
    tests/test_review_flow.py runs them on built-in resources)."""
    [block] = shell_blocks(section(README, "From config to infrastructure"))
    commands = iac_commands(block)
    assert [args[0] for args in commands] == ["init", "allowlist", "validate", "plan", "apply"]
    monkeypatch.chdir(tmp_path)
    for args in commands[:3]:
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert "34.90.1.4/32" in (tmp_path / "iac.yaml").read_text()


# --- Every page: commands that parse, links that lead somewhere ---------------------------------------------------


def test_the_docs_show_the_commands_of_every_task() -> None:
    shown = {" ".join(args[:2]) for _, args in shown_commands()}
    expected = ("render -c", "allowlist add", "allowlist set", "allowlist denied", "hmac rotate", "cors check")
    for command in (*expected, "doctor", "lock -c", "manifest generate", "manifest register"):
        assert any(line.startswith(command) for line in shown), command


def command_id(value: str | list[str]) -> str:
    return " ".join(value) if isinstance(value, list) else value


@pytest.mark.parametrize(("page", "args"), shown_commands(), ids=command_id)
def test_every_iac_command_in_the_docs_parses(page: str, args: list[str]) -> None:
    """Options that exist, values where they take one, arguments in number: Click's own parser says so."""
    from iac.cli import app

    command = typer.main.get_command(app)
    rest = list(args)
    while hasattr(command, "commands"):  # a group: the next word names the command
        word, *rest = rest
        assert word in command.commands, f"{page}: iac has no command {word!r}"
        command = command.commands[word]
    command.make_context(word, rest, resilient_parsing=False)  # raises Click's usage error


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text (markup dropped), lowercase, punctuation but `-` and `_` removed,
    spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = "".join(c for c in text.lower() if c in "-_ " or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor, a repeated one numbered as GitHub does (`-1`, `-2`)."""
    seen: dict[str, int] = {}
    found = set()
    for match in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", FENCE.sub("", text), re.M):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path, text: str | None = None) -> list[str]:
    """Each relative link of a page whose file does not exist, or whose `#anchor` names no heading there."""
    text = path.read_text(encoding="utf-8") if text is None else text
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))  # links inside code are not links
    broken = []
    for target in LINK.findall(prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not checked here (tests stay offline)
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(f"{name(path)}: {target}: no such file")
        elif anchor and (
            linked.suffix != ".md" or anchor not in anchors(text if linked == path else linked.read_text())
        ):
            broken.append(f"{name(path)}: {target}: no heading with that anchor in {name(linked)}")
    return broken


def test_slugs_follow_githubs_rules() -> None:
    assert slug("Extra files: `terraform.extra_files`") == "extra-files-terraformextra_files"
    assert slug("Who is being refused? `iac allowlist denied`") == "who-is-being-refused-iac-allowlist-denied"
    assert slug("CORS for Encord's web app") == "cors-for-encords-web-app"
    assert slug("Provider versions: `build/.terraform.lock.hcl`") == "provider-versions-buildterraformlockhcl"
    assert anchors("# A\n## A\n```sh\n# A\n```\n### A\n") == {"a", "a-1", "a-2"}


def test_the_link_check_finds_a_missing_file_and_a_wrong_anchor() -> None:
    text = "# Page\n\nSee [a](reference.md#exit-status), [b](nowhere.md), [c](#page), [d](#not-here), `[e](x.md)`.\n"
    text += "[f](reference.md#no-such-section)\n```sh\n[g](gone.md)\n```\n"
    assert broken_links(ROOT / "docs" / "configuration.md", text) == [
        "docs/configuration.md: nowhere.md: no such file",
        "docs/configuration.md: #not-here: no heading with that anchor in docs/configuration.md",
        "docs/configuration.md: reference.md#no-such-section: no heading with that anchor in docs/reference.md",
    ]


@pytest.mark.parametrize("page", DOCUMENTATION, ids=name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert page.is_file()
    assert broken_links(page) == []


# --- The allowlist rotation, as written -------------------------------------------------------------------------


def rotation_block() -> str:
    page = ROOT / "docs" / "rotating-the-allowlist.md"
    return next(
        block
        for block in shell_blocks(page.read_text(encoding="utf-8"))
        if "iac allowlist add 34.90.1.1 --dry-run" in block
    )


def test_the_rotation_example_runs_as_written(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "Rotating the allowlist" commands, on Encord's documented example: every one but the --apply."""
    shutil.copyfile(EXAMPLES / "documented" / "iac.yaml", tmp_path / "iac.yaml")
    (tmp_path / "vpn-egress.txt").write_text("# VPN egress\n34.90.1.1\n81.2.69.160/28\n39.42.20.11\n")
    monkeypatch.chdir(tmp_path)
    ran = 0
    for args in iac_commands(rotation_block()):
        if "--apply" in args:
            continue  # needs Terraform and Google: tests/test_review_flow.py runs that flow on built-in resources
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
        ran += 1
    assert ran >= 6
    text = (tmp_path / "iac.yaml").read_text()
    assert "  - 81.2.69.160/28" in text and "130.192.120.23/32" not in text
    assert (tmp_path / "build" / "serving" / "main.tf").is_file()
    assert (tmp_path / "build" / "allowlist" / "main.tf").is_file()
    assert cli("render", "--check").exit_code == 0


# --- The modules' READMEs, against the modules ------------------------------------------------------------------

MODULES = sorted(path for path in (ROOT / "modules").iterdir() if (path / "variables.tf").is_file())


def table(text: str, heading: str) -> dict[str, list[str]]:
    """The rows of the table under `## heading`, by the code-spanned name in their first cell."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    rows = {}
    for line in text[start : end if end != -1 else len(text)].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`(\w+)`", cells[0]) if line.startswith("|") else None
        if match:
            rows[match.group(1)] = cells[1:]
    return rows


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_each_modules_readme_lists_its_variables_and_outputs(module: Path) -> None:
    """Every variable and output of the module, and only those, in its README; required exactly when the variable
    has no default; sensitive exactly when the output is."""
    import hcl2

    assert [p.name for p in MODULES] == ["gcp-direct-access", "gcp-direct-access-allowlist"]
    text = (module / "README.md").read_text(encoding="utf-8")
    variables = {
        name.strip('"'): body
        for block in hcl2.loads((module / "variables.tf").read_text())["variable"]
        for name, body in block.items()
    }
    outputs = {
        name.strip('"'): body
        for block in hcl2.loads((module / "outputs.tf").read_text())["output"]
        for name, body in block.items()
    }
    documented = table(text, "Variables")
    assert sorted(documented) == sorted(variables)
    for name, body in variables.items():
        required = documented[name][2]  # description | type | required | default
        assert (required == "✓") == ("default" not in body), name
    shown = table(text, "Outputs")
    assert sorted(shown) == sorted(outputs)
    for name, body in outputs.items():
        assert (shown[name][1] == "✓") == (body.get("sensitive") is True), name
