"""docs/pipelines.md, "IAM for the pipeline": every resource type the modules and the templates declare has its
row, every permission a row names is granted by the role commands below the table, nothing powerful is
granted project-wide, and the rotator (pull requests, rotations) reaches the allowlist's state and Cloud Armor
rules only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

PERMISSION = re.compile(r"`([a-z]+\.[a-zA-Z]+\.[a-zA-Z]+)`")
DECLARED = re.compile(r'^\s*(?:resource|data)\s+"([a-z0-9_]+)"', re.MULTILINE)


PIPELINES_PAGE = ROOT / "docs" / "pipelines.md"


def iam_section(page: str) -> str:
    start = page.index("## IAM for the pipeline")
    end = page.find("\n## ", start)
    return page[start : end if end != -1 else len(page)]


def table_rows(section: str) -> list[list[str]]:
    """The rows of the section's table (after the header and separator), as cells."""
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| resource type |"), lines[0]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def covered_types(section: str) -> set[str]:
    return {name for row in table_rows(section) for name in re.findall(r"`([a-z0-9_]+)`", row[0])}


def declared_types(root: Path) -> dict[str, str]:
    """Every `resource "TYPE"` and `data "TYPE"` in modules/**/*.tf and templates/**/*.j2, with where it is."""
    found: dict[str, str] = {}
    for path in [*sorted((root / "modules").rglob("*.tf")), *sorted((root / "templates").rglob("*.j2"))]:
        for name in DECLARED.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, str(path.relative_to(root)))
    return found


def role_permissions(section: str, role: str) -> set[str]:
    """The --permissions of `gcloud iam roles create ROLE` (its continuation lines joined as the shell does)."""
    shell = section.replace("\\\n", "")
    [command] = [line for line in shell.splitlines() if line.startswith(f"gcloud iam roles create {role} ")]
    [permissions] = re.findall(r"--permissions=(\S+)", command)
    return set(permissions.split(","))


def uncovered(declared: dict[str, str], covered: set[str]) -> list[str]:
    return [f"{name} ({where})" for name, where in sorted(declared.items()) if name not in covered]


def test_every_declared_resource_type_has_a_row() -> None:
    declared = declared_types(ROOT)
    assert {"google_compute_backend_service", "google_storage_hmac_key", "google_dns_record_set"} <= set(declared)
    section = iam_section(PIPELINES_PAGE.read_text(encoding="utf-8"))
    # The allowlist root module's one resource type (modules/gcp-direct-access-allowlist), whether or not
    # this checkout declares it yet.
    assert "google_compute_security_policy_rule" in covered_types(section)
    missing = uncovered(declared, covered_types(section))
    assert missing == [], f"docs/pipelines.md, IAM for the pipeline: add a row for {', '.join(missing)}"


def test_a_new_resource_type_fails_the_check(tmp_path: Path) -> None:
    module = tmp_path / "modules" / "gcp-direct-access"
    module.mkdir(parents=True)
    (module / "logging.tf").write_text('resource "google_logging_project_sink" "audit" {\n}\n', encoding="utf-8")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "extra.tf.j2").write_text('data "google_project" "this" {\n}\n', encoding="utf-8")
    section = iam_section(PIPELINES_PAGE.read_text(encoding="utf-8"))
    assert uncovered(declared_types(tmp_path), covered_types(section)) == [
        "google_logging_project_sink (modules/gcp-direct-access/logging.tf)",
        "google_project (templates/extra.tf.j2)",
    ]


@pytest.mark.parametrize(
    ("column", "roles"),
    [(1, ("encordDaDeployer",)), (2, ("encordDaPlanner",)), (3, ("encordDaRotator", "encordDaAllowlistState"))],
)
def test_the_role_commands_grant_every_permission_the_table_names(column: int, roles: tuple[str, ...]) -> None:
    section = iam_section(PIPELINES_PAGE.read_text(encoding="utf-8"))
    named = {permission for row in table_rows(section) for permission in PERMISSION.findall(row[column])}
    assert named, "the table names permissions"
    assert set().union(*(role_permissions(section, role) for role in roles)) == named


ROTATOR_COMPUTE = {
    "compute.securityPolicies.get",  # getRule: the provider reads each rule
    "compute.securityPolicies.update",  # addRule, patchRule, removeRule
    "compute.globalOperations.get",  # waiting for each rule's operation, and for the invalidation
    "compute.urlMaps.get",
    "compute.urlMaps.invalidateCache",
}
STATE_OBJECTS = {"storage.objects.get", "storage.objects.create", "storage.objects.delete", "storage.objects.list"}


def test_the_rotator_reaches_the_allowlist_state_and_cloud_armor_rules_only() -> None:
    """Its project-wide role holds Cloud Armor rules and the cache invalidation, exactly; its state role holds
    object permissions only and is bound on the state bucket under a condition on the allowlist's prefix (the
    configured prefix, then `allowlist/`), so it reads neither the serving state (the HMAC secret) nor the
    data bucket."""
    page = PIPELINES_PAGE.read_text(encoding="utf-8")
    section = iam_section(page)
    assert role_permissions(section, "encordDaRotator") == ROTATOR_COMPUTE
    assert role_permissions(section, "encordDaAllowlistState") == STATE_OBJECTS
    shell = section.replace("\\\n", "")
    rotator = [line for line in shell.splitlines() if '--member="$ROTATOR"' in line]
    project = [line for line in rotator if line.startswith("gcloud projects add-iam-policy-binding")]
    assert [re.findall(r"--role=(\S+)", line) for line in project] == [['"projects/$PROJECT_ID/roles/encordDaRotator"']]
    [state] = [line for line in rotator if "buckets add-iam-policy-binding" in line]
    assert state.startswith("gcloud storage buckets add-iam-policy-binding gs://acme-tfstate ")
    assert '--role="projects/$PROJECT_ID/roles/encordDaAllowlistState"' in state
    assert "--condition-from-file=allowlist-state-condition.yaml" in state
    [condition] = re.findall(r"cat > allowlist-state-condition.yaml <<'EOF'\n(.*?)\nEOF\n", section, re.DOTALL)
    expression = yaml.safe_load(condition)["expression"]
    [backend] = re.findall(r"gcs: \{bucket: (\S+), prefix: (\S+)\}", page)
    bucket, prefix = backend
    assert expression == (
        f"resource.name.startsWith('projects/_/buckets/{bucket}/objects/{prefix}/allowlist/') || "
        f"api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith('{prefix}/allowlist/')"
    )
    assert not re.search(r'--member="\$ROTATOR" --role=roles/storage\.', shell), "no predefined storage role"


def test_nothing_powerful_is_granted_project_wide() -> None:
    """No project-wide serviceAccountAdmin or storage.admin; storage.admin only with the data bucket condition;
    the planner reads the state bucket and writes nothing there; Cloud Build's accounts may write logs."""
    section = iam_section(PIPELINES_PAGE.read_text(encoding="utf-8")).replace("\\\n", "")
    page = PIPELINES_PAGE.read_text(encoding="utf-8").replace("\\\n", "")
    assert "--role=roles/iam.serviceAccountAdmin" not in page and "--role=roles/storage.admin\n" not in page
    project_bindings = [line for line in section.splitlines() if "gcloud projects add-iam-policy-binding" in line]
    assert project_bindings
    for line in project_bindings:
        assert "roles/storage.admin" not in line or (
            '--condition="title=data-bucket-only,' in line and "buckets/$DATA_BUCKET'" in line
        ), line
        assert "roles/dns.admin" not in line and "roles/viewer" not in line and "roles/editor" not in line, line
    assert re.search(
        r"buckets add-iam-policy-binding gs://acme-tfstate --member=\"\$PLANNER\" "
        r"--role=roles/storage.objectViewer",
        section,
    )
    assert not re.search(r"--member=\"\$PLANNER\" --role=roles/storage.object(Admin|Creator|User)", section)
    assert 'for member in "$ROTATOR" "$PLANNER" "$DEPLOYER"; do' in section
    assert "--role=roles/logging.logWriter" in section
    assert "managed-zones add-iam-policy-binding" in section and "only with dns_zone" in section


def test_the_threat_model_says_what_a_pull_request_can_still_do() -> None:
    """The rotator's residual power is said, not hidden: no HMAC secret, but Cloud Armor changes without review
    (`compute.securityPolicies.update` covers the policy too), and what detects them."""
    page = PIPELINES_PAGE.read_text(encoding="utf-8")
    threat = page[page.index("## Who can read and change what") :]
    author = threat.split("\n- ")[1]
    assert author.startswith("A **pull request author**") and "as the rotator" in author
    assert "cannot read the serving state or the HMAC secret" in author
    assert "**can change Cloud Armor without review**" in author
    assert "`compute.securityPolicies.update`" in author and "also allows changing the policy itself" in author
    assert "`iac doctor`" in author and "Cloud Audit Logs" in author
