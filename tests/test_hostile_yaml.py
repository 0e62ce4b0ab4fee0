"""Hostile or surprising YAML (issue #10): alias bombs, bidirectional control characters, unquoted IPv6.

Each is refused with one clear message naming file, line and field, through the CLI as a user meets it.
Time and memory of the alias bomb are measured in benchmarks/bench_yaml.py, not asserted here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from iac.config.yamldoc import MAX_ALIAS_VALUES, MAX_DEPTH, compose
from iac.errors import ConfigError

VALID = """\
project: my-gcp-project
domain: encord-directaccess.acme.com
bucket:
  name: encord-data
  location: EU
terraform:
  backend:
    gcs: {bucket: acme-tfstate, prefix: encord-da}
cors:
  origins:
    - https://app.encord.com
  targets:
    - provider: aws
      bucket: acme-data
      region: eu-west-2
allowlist:
  - 39.42.20.11/32
  - 130.192.120.23/32
"""

ALIAS_HINT = "write the values out instead of using anchors/aliases (&, *)"


def write(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "cfg.yaml"
    config.write_text(text, encoding="utf-8")
    return config


def edit(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


def line_of(text: str, start: str) -> int:
    """The 1-based number of the first line of `text` that starts with `start`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start))


def billion_laughs(levels: int) -> str:
    """The classic alias bomb: each level a list of nine aliases of the level before, 9**levels values."""
    names = "abcdefghijklmnopqrstuvwxyz"[:levels]
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{name}: &{name} [{','.join([f'*{before}'] * 9)}]" for before, name in itertools.pairwise(names)]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def memory_cap(extra: int) -> Iterator[None]:
    """Cap this process's address space at its current size plus `extra` bytes, where the OS allows it.

    Without the fix the bomb would grow by tens of GB; with a cap the test fails in seconds instead.
    """
    try:
        import resource

        status = Path("/proc/self/status").read_text()
    except (ImportError, OSError):
        yield
        return
    match = re.search(r"^VmSize:\s+(\d+) kB", status, re.MULTILINE)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if match is None:
        yield
        return
    cap = int(match.group(1)) * 1024 + extra
    if hard != resource.RLIM_INFINITY and cap > hard:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def assert_one_problem(result, expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    problems = [line for line in result.stderr.splitlines() if line.startswith("error: ") and "problem" not in line]
    assert problems == [f"error: {expected}"], result.stderr


# ------------------------------------------------------------------------------------------------ aliases


def test_billion_laughs_is_refused_at_the_alias_that_goes_over(tmp_path: Path, cli) -> None:
    bomb = billion_laughs(9)
    assert len(bomb) < 600  # 9**9 (387 million) values from a few hundred bytes
    text = VALID + bomb
    config = write(tmp_path, text)
    with memory_cap(512 * 2**20):
        result = cli("validate", "-c", config)
    # a..e expand to 74,718 values between them; the first *e on line f takes the count past 100,000.
    line = line_of(text, "f:")
    assert_one_problem(
        result, f"{config}:{line}: YAML aliases expand to more than {MAX_ALIAS_VALUES:,} values: {ALIAS_HINT}"
    )


def test_alias_bomb_is_refused_by_render_too_and_nothing_is_written(tmp_path: Path, cli) -> None:
    config = write(tmp_path, VALID + billion_laughs(7))
    out = tmp_path / "out"
    with memory_cap(512 * 2**20):
        result = cli("render", "-c", config, "-o", out)
    assert result.exit_code == 1
    assert "YAML aliases expand to more than" in result.stderr
    assert not out.exists()


def test_alias_into_itself_is_refused(tmp_path: Path, cli) -> None:
    text = edit("allowlist:\n", "allowlist: &list\n") + "  - *list\n"
    config = write(tmp_path, text)
    result = cli("validate", "-c", config)
    line = len(text.splitlines())
    assert_one_problem(
        result,
        f"{config}:{line}: YAML alias *list is inside the list or mapping it refers to, so it never ends: {ALIAS_HINT}",
    )


def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path, cli) -> None:
    # Deeper still (50,000 levels, 100 kB) would crash libyaml's composer (C stack); here the conversion
    # would end in a RecursionError without the limit.
    depth = 10_000
    text = VALID + "extra: " + "[" * depth + "]" * depth + "\n"
    config = write(tmp_path, text)
    result = cli("validate", "-c", config)
    assert_one_problem(
        result,
        f"{config}:{line_of(text, 'extra:')}: YAML lists and mappings nested more than {MAX_DEPTH} levels deep: "
        "a config needs a few (e.g. cors.targets[0].bucket)",
    )


def test_ordinary_aliases_still_work(tmp_path: Path, cli) -> None:
    text = edit("name: encord-data", "name: &data encord-data").replace("prefix: encord-da}", "prefix: *data}")
    result = cli("validate", "-c", write(tmp_path, text))
    assert result.exit_code == 0, result.output


def test_allowlist_of_20000_entries_still_validates(tmp_path: Path, cli) -> None:
    # Global /32s two apart, so none merge: 20,000 ranges, 2,000 Cloud Armor rules.
    first = int(ipaddress.IPv4Address("81.0.0.0"))
    entries = "".join(f"  - {ipaddress.IPv4Address(first + 2 * i)}\n" for i in range(20_000))
    text = VALID.split("allowlist:")[0] + "allowlist_max_rules: 2000\nallowlist:\n" + entries
    result = cli("validate", "-c", write(tmp_path, text))
    assert result.exit_code == 0, result.output
    assert "20000 allowlist ranges" in result.stdout


def test_compose_is_bounded_for_other_readers(tmp_path: Path) -> None:
    """The public compose() that the allowlist editor reads the config with."""
    path = tmp_path / "cfg.yaml"
    root = compose(VALID, path)
    assert root is not None and root.tag.endswith(":map")
    assert compose("", path) is None
    with pytest.raises(ConfigError) as bomb:
        compose(billion_laughs(9), path)
    assert bomb.value.problems == [
        f"{path}:6: YAML aliases expand to more than {MAX_ALIAS_VALUES:,} values: {ALIAS_HINT}"
    ]
    with pytest.raises(ConfigError) as syntax:
        compose("a: [1, 2\n", path)
    assert syntax.value.problems[0].startswith(f"{path}:2: YAML syntax error:")


# ------------------------------------------------------------------- YAML that means something else (issue 24)

TAG_WHY = "which iac does not take (what a tag means depends on the program reading the file)"
HUGE_HEX = "0x" + "f" * 4000
HUGE_BASE_60 = "1" + ":00" * 3000
HUGE_DECIMAL = "9" * 5000

MISREAD = [
    # (case id, old text of VALID, new text, start of the line reported, the message after "FILE:LINE: ")
    (
        "octal",
        "terraform:",
        "cdn:\n  default_ttl: 010\nterraform:",
        "  default_ttl:",
        "cdn.default_ttl: 010 was read by YAML as the octal number 8 (YAML 1.1): write 8",
    ),
    (
        "octal-0o",
        "terraform:",
        "cdn:\n  default_ttl: 0o10\nterraform:",
        "  default_ttl:",
        "cdn.default_ttl: 0o10 is the octal number 8 in YAML 1.2 (text in YAML 1.1): write 8",
    ),
    (
        "base-60",
        "terraform:",
        "cdn:\n  client_ttl: 1:00\nterraform:",
        "  client_ttl:",
        "cdn.client_ttl: 1:00 was read by YAML as the base-60 number 60 (YAML 1.1): write 60",
    ),
    (
        "hex",
        "terraform:",
        "cdn:\n  default_ttl: 0x10\nterraform:",
        "  default_ttl:",
        "cdn.default_ttl: 0x10 was read by YAML as the hexadecimal number 16: write 16",
    ),
    (
        "binary",
        "terraform:",
        "cdn:\n  default_ttl: 0b1\nterraform:",
        "  default_ttl:",
        "cdn.default_ttl: 0b1 was read by YAML as the binary number 1: write 1",
    ),
    (
        "underscores",
        "terraform:",
        "cdn:\n  default_ttl: 3_600\nterraform:",
        "  default_ttl:",
        "cdn.default_ttl: 3_600 was read by YAML as the number 3600 (YAML 1.1 drops the underscores): write 3600",
    ),
    (
        "octal-as-text",
        "domain:",
        "name: 0755\ndomain:",
        "name:",
        'name: 0755 was read by YAML as the octal number 493 (YAML 1.1): write "0755"',
    ),
    (
        "off",
        "  location: EU\n",
        "  location: EU\n  create: off\n",
        "  create:",
        "bucket.create: off was read by YAML as the boolean false (YAML 1.1): write false",
    ),
    (
        "Yes",
        "  location: EU\n",
        "  location: EU\n  create: Yes\n",
        "  create:",
        "bucket.create: Yes was read by YAML as the boolean true (YAML 1.1): write true",
    ),
    (
        "n",
        "  location: EU\n",
        "  location: EU\n  create: n\n",
        "  create:",
        "bucket.create: n is the boolean false in YAML 1.1 (text in YAML 1.2): write false",
    ),
    (
        "oFF",
        "  location: EU\n",
        "  location: EU\n  create: oFF\n",
        "  create:",
        "bucket.create: oFF is the boolean false in YAML 1.1 (text in YAML 1.2): write false",
    ),
    (
        "on-as-text",
        "domain:",
        "name: on\ndomain:",
        "name:",
        'name: on was read by YAML as the boolean true (YAML 1.1): write "on"',
    ),
    (
        "date",
        "domain:",
        "name: 2026-12-06\ndomain:",
        "name:",
        'name: 2026-12-06 was read by YAML as the date 2026-12-06 (YAML 1.1): write "2026-12-06"',
    ),
    (
        "huge-hex",
        "terraform:",
        f"cdn:\n  default_ttl: {HUGE_HEX}\nterraform:",
        "  default_ttl:",
        f"cdn.default_ttl: {HUGE_HEX[:77]}... is a number of 4,002 characters: too large for any config value",
    ),
    (
        "huge-base-60",
        "terraform:",
        f"cdn:\n  default_ttl: {HUGE_BASE_60}\nterraform:",
        "  default_ttl:",
        f"cdn.default_ttl: {HUGE_BASE_60[:77]}... is a number of 9,001 characters: too large for any config value",
    ),
    (
        "huge-decimal",
        "name: encord-data",
        f"name: encord-data\n  origin_region: {HUGE_DECIMAL}",
        "  origin_region:",
        f"bucket.origin_region: {HUGE_DECIMAL[:77]}... is a number of 5,000 characters: too large for any config value",
    ),
    (
        "python-name",
        "project: my-gcp-project",
        "project: !!python/name:os.system x",
        "project:",
        f'project: !!python/name:os.system x has a YAML tag, {TAG_WHY}: write "x"',
    ),
    (
        "python-object",
        "bucket:\n",
        "bucket: !!python/object:iac.config.models.BucketConfig\n",
        "bucket:",
        f"bucket: !!python/object:iac.config.models.BucketConfig is a YAML tag on a mapping, {TAG_WHY}: remove it",
    ),
    ("local-tag", "cors:\n", "cors: !foo\n", "cors:", f"cors: !foo is a YAML tag on a mapping, {TAG_WHY}: remove it"),
    (
        "set",
        "  origins:\n    - https://app.encord.com\n",
        "  origins: !!set {https://app.encord.com}\n",
        "  origins:",
        f"cors.origins: !!set is a YAML tag on a mapping, {TAG_WHY}: remove it",
    ),
    (
        "tagged-list",
        "  targets:\n",
        "  targets: !!seq\n",
        "  targets:",
        f"cors.targets: !!seq is a YAML tag on a list, {TAG_WHY}: remove it",
    ),
    (
        "str-tag",
        "terraform:",
        "cdn:\n  default_ttl: !!str 3600\nterraform:",
        "  default_ttl:",
        f'cdn.default_ttl: !!str 3600 has a YAML tag, {TAG_WHY}: write "3600"',
    ),
    (
        "int-tag",
        "terraform:",
        "cdn:\n  default_ttl: !!int 0x10\nterraform:",
        "  default_ttl:",
        f"cdn.default_ttl: !!int 0x10 has a YAML tag, {TAG_WHY}: write 16",
    ),
    (
        "quoted-tag",
        "  location: EU",
        '  location: !!str "EU"',
        "  location:",
        f'bucket.location: !!str "EU" has a YAML tag, {TAG_WHY}: write "EU"',
    ),
    (
        "non-specific-tag",
        "domain:",
        "name: ! encord-b\ndomain:",
        "name:",
        f'name: ! encord-b has a YAML tag, {TAG_WHY}: write "encord-b"',
    ),
    (
        "allowlist-entry-tag",
        "  - 130.192.120.23/32",
        "  - !!str 130.192.120.23/32",
        "  - !!str",
        f'allowlist[1]: !!str 130.192.120.23/32 has a YAML tag, {TAG_WHY}: write "130.192.120.23/32"',
    ),
]


@pytest.mark.parametrize(("old", "new", "line", "expected"), [c[1:] for c in MISREAD], ids=[c[0] for c in MISREAD])
def test_yaml_that_means_something_else_is_an_error(
    tmp_path: Path, cli, old: str, new: str, line: str, expected: str
) -> None:
    text = edit(old, new)
    config = write(tmp_path, text)
    result = cli("validate", "-c", config)
    assert_one_problem(result, f"{config}:{line_of(text, line)}: {expected}")
    out = tmp_path / "out"
    assert cli("render", "-c", config, "-o", out).exit_code == 1
    assert not out.exists()


ACCEPTED = [
    # Decimal integers, true/false and quoted strings mean the same to every YAML reader.
    ("decimal", "terraform:", "cdn:\n  default_ttl: 3600\n  client_ttl: 0\nterraform:"),
    ("signed-decimal", "terraform:", "cdn:\n  default_ttl: +60\nterraform:"),
    ("true-false", "  location: EU\n", "  location: EU\n  create: true\n  cors: FALSE\n"),
    ("quoted-on", "domain:", 'name: "on"\ndomain:'),
    ("quoted-octal", "domain:", "name: 'x0755'\ndomain:"),
    ("quoted-ipv6", "  - 130.192.120.23/32", '  - "2600:1:2:3:4:5:6:7"'),
]


@pytest.mark.parametrize(("old", "new"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_values_every_yaml_reader_reads_alike_stay_accepted(tmp_path: Path, cli, old: str, new: str) -> None:
    result = cli("validate", "-c", write(tmp_path, edit(old, new)))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("written", "suggested"), [("010", "8"), ("1:00", "60"), ("0x10", "16"), ("!!int 0x10", "16")])
def test_the_decimal_form_suggested_is_the_value_yaml_read(tmp_path: Path, cli, written: str, suggested: str) -> None:
    refused = cli("validate", "-c", write(tmp_path, edit("terraform:", f"cdn:\n  default_ttl: {written}\nterraform:")))
    assert refused.stderr.rstrip().splitlines()[0].endswith(f": write {suggested}"), refused.stderr
    fixed = edit("terraform:", f"cdn:\n  default_ttl: {suggested}\nterraform:")
    out = tmp_path / "out"
    assert cli("render", "-c", write(tmp_path, fixed), "-o", out).exit_code == 0
    assert f"default_ttl = {suggested}" in " ".join((out / "serving" / "main.tf").read_text().split())


def test_every_misread_value_is_reported_in_one_pass_with_its_line(tmp_path: Path, cli) -> None:
    text = edit("  location: EU\n", "  location: EU\n  create: on\n") + "cdn:\n  default_ttl: 010\n"
    result = cli("validate", "-c", write(tmp_path, text))
    assert result.exit_code == 1
    assert "2 problems" in result.stderr
    assert f":{line_of(text, '  create:')}: bucket.create: on was read" in result.stderr
    assert f":{line_of(text, '  default_ttl:')}: cdn.default_ttl: 010 was read" in result.stderr


def test_a_misread_key_is_reported_as_written(tmp_path: Path, cli) -> None:
    text = VALID + "on: 1\n"
    result = cli("validate", "-c", write(tmp_path, text))
    assert result.exit_code == 1
    assert (
        f':{line_of(text, "on:")}: on: on was read by YAML as the boolean true (YAML 1.1): write "on"' in result.stderr
    )


def test_an_allowlist_edit_refuses_a_misread_config_and_writes_nothing(tmp_path: Path, cli) -> None:
    config = write(tmp_path, edit("terraform:", "cdn:\n  default_ttl: 0x10\nterraform:"))
    before = config.read_bytes()
    result = cli("allowlist", "add", "34.90.1.1", "-c", config)
    assert result.exit_code == 1
    assert "cdn.default_ttl: 0x10 was read by YAML as the hexadecimal number 16: write 16" in result.stderr
    assert config.read_bytes() == before


# ---------------------------------------------------------------------------- bidirectional control characters

BIDI_CASES = [
    # (case id, old, new, the message's start: file line and field, value, code point and position)
    (
        "domain",
        "domain: encord-directaccess.acme.com",
        "domain: encord-directaccess.acme\u202e.com",
        "cfg.yaml:2: domain: 'encord-directaccess.acme\\u202e.com' contains an invisible bidirectional control "
        "character, U+202E (RIGHT-TO-LEFT OVERRIDE) at character 25:",
    ),
    (
        "cors-origin",
        "    - https://app.encord.com",
        '    - "https://app.encord.com\u2066"',
        "cfg.yaml:11: cors.origins[0]: 'https://app.encord.com\\u2066' contains an invisible bidirectional control "
        "character, U+2066 (LEFT-TO-RIGHT ISOLATE) at character 23:",
    ),
    (
        "allowlist-entry",
        "  - 130.192.120.23/32",
        '  - "130.192.120.23\u202d/32"',
        "cfg.yaml:18: allowlist[1]: '130.192.120.23\\u202d/32' contains an invisible bidirectional control "
        "character, U+202D (LEFT-TO-RIGHT OVERRIDE) at character 15:",
    ),
    (
        # No pattern of its own rejected this one: it reached the rendered backend block unchecked.
        "backend-prefix",
        "prefix: encord-da}",
        'prefix: "encord\u202a-da\u202c"}',
        "cfg.yaml:8: terraform.backend.gcs.prefix: 'encord\\u202a-da\\u202c' contains invisible bidirectional "
        "control characters, U+202A (LEFT-TO-RIGHT EMBEDDING) at character 7, U+202C (POP DIRECTIONAL "
        "FORMATTING) at character 11:",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), [c[1:] for c in BIDI_CASES], ids=[c[0] for c in BIDI_CASES])
def test_bidi_control_character_is_refused_naming_field_and_code_point(
    tmp_path: Path, cli, old: str, new: str, expected: str
) -> None:
    config = write(tmp_path, edit(old, new))
    result = cli("validate", "-c", config)
    assert result.exit_code == 1, result.output
    problems = [line for line in result.stderr.splitlines() if line.startswith("error: ") and "problem" not in line]
    assert len(problems) == 1, result.stderr  # that one message, not also "not a hostname/origin/address"
    assert problems[0].startswith("error: " + expected.replace("cfg.yaml", str(config))), result.stderr


def test_every_bidi_problem_is_reported_in_one_pass(tmp_path: Path, cli) -> None:
    text = VALID
    for _, old, new, _ in BIDI_CASES:
        text = text.replace(old, new, 1)
    result = cli("validate", "-c", write(tmp_path, text))
    assert result.exit_code == 1
    assert result.stderr.count("bidirectional control character") == len(BIDI_CASES), result.stderr


def test_bidi_character_in_a_key_is_not_echoed_raw(tmp_path: Path, cli) -> None:
    config = write(tmp_path, edit("domain:", "dom\u202eain:"))
    result = cli("validate", "-c", config)
    assert result.exit_code == 1
    assert "\u202e" not in result.output
    assert f"{config}:2: 'dom\\u202eain': unknown key" in result.stderr


# ------------------------------------------------------------------------------ numbers that were addresses


@pytest.mark.parametrize(
    ("entry", "number"),
    [("2600:1:2:3:4:5:6:7", 7278384250962367), ("1:2", 62), ("12:30", 750)],
    ids=["ipv6", "1:2", "12:30"],
)
def test_unquoted_ipv6_read_as_a_number_says_to_quote_it(tmp_path: Path, cli, entry: str, number: int) -> None:
    text = VALID + f"  - {entry}\n"
    config = write(tmp_path, text)
    result = cli("validate", "-c", config)
    assert_one_problem(
        result,
        f"{config}:{line_of(text, f'  - {entry}')}: allowlist[2]: {entry} was read by YAML as the number {number}: "
        f'quote IPv6 addresses ("{entry}")',
    )


def test_the_quoted_form_the_message_suggests_works(tmp_path: Path, cli) -> None:
    config = write(tmp_path, VALID + "  - 2600:1:2:3:4:5:6:7\n")
    refused = cli("validate", "-c", config)
    assert refused.exit_code == 1
    suggested = re.search(r'quote IPv6 addresses \(("[^"]+")\)', refused.stderr)
    assert suggested is not None, refused.stderr
    config.write_text(VALID + f"  - {suggested.group(1)}\n")
    out = tmp_path / "out"
    rendered = cli("render", "-c", config, "-o", out)
    assert rendered.exit_code == 0, rendered.output
    assert '"2600:1:2:3:4:5:6:7/128"' in (out / "allowlist" / "main.tf").read_text()


def test_other_surprising_scalars_name_what_was_written(tmp_path: Path, cli) -> None:
    text = VALID + "  - 1234\n  - yes\n  -\n"
    config = write(tmp_path, text)
    result = cli("validate", "-c", config)
    assert result.exit_code == 1
    examples = (
        "an allowlist entry is an IP address or CIDR (examples: 39.42.20.11, 130.192.120.0/24, 2a00:1450:4001::/48)"
    )
    assert f"{config}:19: allowlist[2]: 1234 was read by YAML as the number 1234: {examples}" in result.stderr
    assert f"{config}:20: allowlist[3]: yes was read by YAML as the boolean true: {examples}" in result.stderr
    assert f"{config}:21: allowlist[4]: is empty: remove the entry or write an IP address or CIDR" in result.stderr


def test_string_field_read_as_a_number_shows_the_text_as_written(tmp_path: Path, cli) -> None:
    config = write(
        tmp_path, edit("domain: encord-directaccess.acme.com", "domain: encord-directaccess.acme.com\nname: 12:30")
    )
    result = cli("validate", "-c", config)
    assert_one_problem(
        result, f'{config}:3: name: 12:30 was read by YAML as the base-60 number 750 (YAML 1.1): write "12:30"'
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [("1: x", "1: keys must be strings, got 1"), ("? [a]\n: x", "(top level): keys must be strings, got a list")],
    ids=["number", "list"],
)
def test_a_key_that_is_no_string_is_named_as_written(tmp_path: Path, cli, key: str, expected: str) -> None:
    text = VALID + key + "\n"
    config = write(tmp_path, text)
    assert_one_problem(cli("validate", "-c", config), f"{config}:{len(VALID.splitlines()) + 1}: {expected}")
