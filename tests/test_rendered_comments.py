"""Allowlist comments reach the rendering: each range in the rendered rules carries its config comment on its
line, so a `build/` diff in a pull request reads like the config's (issue 27.2). Escaped through `iac.terraform.hcl`:
nothing in a comment can end it early or become HCL; the rules read back and rendered again are unchanged."""

from __future__ import annotations

import subprocess
from pathlib import Path

import hcl2
import pytest
from test_apply import CONFIG

from iac.terraform import hcl

HOSTILE = {
    "81.2.69.16/32": 'closes */ and "quotes" ] } ) then ${var.x} and %{ if true }',
    "81.2.69.48/32": "bidi \u202eevil\u202c zero\u200bwidth\ttab",
    "81.2.69.80/32": '"9.9.9.9/32", # a range written in a comment is not a range',
}


# Where a rendering states its rules: the allowlist root module's main.tf.
RULES = "allowlist/main.tf"


def tree(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def ranges_block(main_tf: str) -> list[str]:
    start = main_tf.index("    rules = [")
    return main_tf[start:].splitlines()


def module_rules(out: Path) -> list[dict]:
    document = hcl2.loads((out / RULES).read_text())
    (module,) = document["module"][0].values()  # python-hcl2 keeps the quotes of labels and strings
    return [{**rule, "ranges": [r.strip('"') for r in rule["ranges"]]} for rule in module["allowlist"]["rules"]]


def test_comments_reach_the_rendered_rules(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    entries = "".join(f"  - {cidr}  # {note}\n" for cidr, note in HOSTILE.items())
    config.write_text(CONFIG.replace("  - 39.42.20.11/32\n", "  # Lisbon office\n  - 39.42.20.11/32\n") + entries)
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    text = (out / RULES).read_text(encoding="utf-8")
    lines = ranges_block(text)
    line_of = {cidr: next(line for line in lines if f'"{cidr}",' in line) for cidr in [*HOSTILE, "39.42.20.11/32"]}
    assert line_of["39.42.20.11/32"].rstrip().endswith("# Lisbon office"), "a comment above the entry counts"
    assert line_of["81.2.69.16/32"].endswith('# closes */ and "quotes" ] } ) then ${var.x} and %{ if true }')
    assert line_of["81.2.69.48/32"].endswith("# bidi <U+202E>evil<U+202C> zero<U+200B>width tab")
    assert "\u202e" not in text and "\u200b" not in text and "\t" not in text
    assert not any("130.192.120.23/32" in line and "#" in line for line in lines), "no comment, none rendered"

    # The comments are only comments: the structure Terraform reads is the rules and nothing else.
    rules = module_rules(out)
    assert [cidr for rule in rules for cidr in rule["ranges"]] == sorted(
        [*HOSTILE, "39.42.20.11/32", "130.192.120.23/32"], key=lambda c: tuple(int(x) for x in c[:-3].split("."))
    )
    assert "9.9.9.9/32" not in str(rules)


def test_commented_rules_read_back_and_render_the_same(cli, tmp_path: Path) -> None:
    """Rule stability holds with comments: a re-render is byte-identical, and a rotation keeps every
    range's rule (the comment `"9.9.9.9/32"` is never read back as a range)."""
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG + "".join(f"  - {cidr}  # {note}\n" for cidr, note in HOSTILE.items()))
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    first = tree(out)
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    assert tree(out) == first
    check = cli("render", "--check", "-c", config, "-o", out)
    assert check.exit_code == 0, check.output

    before = {cidr: rule["priority"] for rule in module_rules(out) for cidr in rule["ranges"]}
    added = cli("allowlist", "add", "151.101.1.1", "--note", "Fastly test", "-c", config, "-o", out)
    assert added.exit_code == 0, added.output
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    after = {cidr: rule["priority"] for rule in module_rules(out) for cidr in rule["ranges"]}
    assert {cidr: after[cidr] for cidr in before} == before
    assert "9.9.9.9/32" not in after
    assert '"151.101.1.1/32", # Fastly test' in (out / RULES).read_text()


@pytest.mark.terraform
def test_commented_rendering_is_terraform_fmt_clean(cli, tmp_path: Path, terraform: str, terraform_env) -> None:
    config = tmp_path / "iac.yaml"
    # Runs of commented lines (aligned by fmt) broken by uncommented ones, and a multi-range merge.
    entries = "  - 81.2.69.16/32  # a\n  - 81.2.69.17/32  # much longer comment\n  - 81.2.69.200/32\n"
    config.write_text(CONFIG + entries + "".join(f"  - {cidr}  # {n}\n" for n, cidr in enumerate(HOSTILE)))
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    done = subprocess.run(
        [terraform, f"-chdir={out}", "fmt", "-check", "-diff", "-recursive"],
        env=terraform_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Porto NAT A", "# Porto NAT A"),
        ("line one\nline two\r\nthree", "# line one line two three"),
        ("esc \x1b]0;title\x07 nul \x00", "# esc <U+001B>]0;title<U+0007> nul <U+0000>"),
        ("sep \u2028 and \u2029 and \x85", "# sep and and"),
        ("rlo \u202e", "# rlo <U+202E>"),
    ],
)
def test_a_comment_is_one_line_whatever_its_text(text: str, expected: str) -> None:
    assert hcl.comment(text) == expected
    rendered = hcl.value([hcl.Commented("81.2.69.16/32", text)], 0)
    assert len(rendered.splitlines()) == 3
    assert hcl2.loads(f"x = {rendered}\n")["x"] == ['"81.2.69.16/32"']
