"""`iac plan` and `iac apply`: render, init, plan to a file, show, apply exactly that plan, invalidate.

The flows live here and return typed reports; the CLI only parses options, calls and prints.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from iac.allowlist import DEFAULT_RULE_PRIORITY, Rule, repack_notice
from iac.config import LoadedConfig
from iac.errors import IacError
from iac.files import RENDER, Deployment, locked_output, parse_duration, write_tree
from iac.names import ResourceNames
from iac.plan import PlanSummary, summarize
from iac.render import Rendered, current_rules, render
from iac.terraform import Progress, Terraform, terminating_as_interrupt

if TYPE_CHECKING:
    from iac.invalidate import InvalidationTarget

# The saved plan embeds a copy of the state (and so the HMAC secret): it only lives while iac runs.
PLAN_FILE = "iac.tfplan"

# The module's Cloud Armor policies: their allow rules are the deployed rule assignment.
_POLICY_TYPE = "google_compute_security_policy"


class Renderer(Protocol):
    """What renders a config into files: `iac.render.render`, or a stand-in a test hands in."""

    def __call__(
        self,
        loaded: LoadedConfig,
        current: Sequence[Rule] | None = None,
        *,
        repack: bool = False,
        provisional: bool = False,
    ) -> Rendered: ...


@dataclass
class Workspace:
    """A rendered, initialised Terraform directory for one config."""

    loaded: LoadedConfig
    directory: Path
    terraform: Terraform

    def plan(self) -> PlanSummary:
        self.terraform.plan(PLAN_FILE)
        return summarize(self.terraform.show_json(PLAN_FILE))

    def apply(self) -> None:
        self.terraform.apply(PLAN_FILE)

    def outputs(self) -> dict[str, Any]:
        return self.terraform.outputs()


@contextlib.contextmanager
def workspace(
    loaded: LoadedConfig,
    directory: Path,
    binary: str,
    lock_timeout: str,
    progress: Progress,
    *,
    repack: bool = False,
    renderer: Renderer | None = None,
) -> Iterator[Workspace]:
    """Render `loaded` into `directory` and run `terraform init`; the plan file is removed on exit.

    The allow rules keep the assignment of the earlier rendering in `directory`; without one, the
    assignment deployed (read from the state after init); without either, a fresh packing. `renderer`
    is `iac.render.render` unless a caller hands in another (tests render built-in resources only).
    """
    renderer = renderer or render
    with (
        terminating_as_interrupt(),  # SIGTERM/SIGHUP raise Interrupted, so the finally below runs
        locked_output(directory, parse_duration(lock_timeout)),  # one render, init, plan or apply at a time
    ):
        if loaded.config.terraform.backend is None:
            progress(
                f"warning: no terraform.backend in {loaded.path}: the state is kept in {directory}/terraform.tfstate "
                "and holds the HMAC secret in plain text; keep it private, or set terraform.backend.gcs"
            )
        current = current_rules(directory, loaded.config)
        # Without an earlier rendering, the first one only lets `terraform init` run: it is marked provisional,
        # so that if init or the state read fails, the next run still reads the deployed rules first.
        rendered = renderer(loaded, current, repack=repack, provisional=current is None)
        deployment = Deployment.of(loaded.config)
        write_tree(directory, rendered.files, RENDER, deployment, config=loaded.path)
        terraform = Terraform(binary=binary, working_dir=directory, lock_timeout=lock_timeout, progress=progress)
        try:
            terraform.init()
            if current is None:
                deployed = rules_from_state(terraform.show_json())
                if deployed:
                    progress(f"keeping the {len(deployed)} allow rules deployed (read from the Terraform state)")
                    current = deployed
                rendered = renderer(loaded, current, repack=repack)
                write_tree(directory, rendered.files, RENDER, deployment, config=loaded.path)
            if rendered.assignment.repacked:
                progress(repack_notice(current or (), rendered.assignment.rules))
            progress(f"rendered {directory}/ ({rendered.resources} resources, {rendered.ranges} allowlist ranges)")
            yield Workspace(loaded=loaded, directory=directory, terraform=terraform)
        finally:
            (directory / PLAN_FILE).unlink(missing_ok=True)


def rules_from_state(state: dict[str, Any]) -> tuple[Rule, ...] | None:
    """The allow rules deployed, from `terraform show -json` of the state (Terraform's JSON state format).

    Both policies hold the same rules; the edge policy is read when present. None when nothing is deployed.
    """
    policies = [
        resource
        for resource in _resources(state.get("values", {}).get("root_module", {}))
        if resource.get("type") == _POLICY_TYPE and resource.get("mode", "managed") == "managed"
    ]
    if not policies:
        return None
    policies.sort(key=lambda r: (r.get("index") != "edge", str(r.get("address"))))
    rules = []
    for rule in policies[0].get("values", {}).get("rule") or ():
        priority = rule.get("priority")
        if rule.get("action") != "allow" or not isinstance(priority, int) or priority >= DEFAULT_RULE_PRIORITY:
            continue
        ranges = [
            cidr
            for match in rule.get("match") or ()
            for config in match.get("config") or ()
            for cidr in config.get("src_ip_ranges") or ()
        ]
        normalised = _normalised(ranges)
        if normalised is None:
            return None
        rules.append(Rule(priority, normalised))
    return tuple(sorted(rules, key=lambda r: r.priority))


def _resources(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from module.get("resources") or ()
    for child in module.get("child_modules") or ():
        yield from _resources(child)


def _normalised(ranges: list[Any]) -> tuple[str, ...] | None:
    import ipaddress

    try:
        return tuple(str(ipaddress.ip_network(str(cidr), strict=False)) for cidr in ranges)
    except ValueError:
        return None  # a rule edited by hand into something else: pack afresh rather than guess


@dataclass(frozen=True)
class InvalidationReport:
    """What became of the CDN cache after a change: not-needed, skipped, done or failed.

    `setup` marks a failure that no retry fixes until something is set up (credentials).
    """

    status: str
    target: InvalidationTarget | None = None
    operation: str | None = None
    error: str | None = None
    retry: str | None = None
    setup: bool = False

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"status": self.status}
        if self.status == "done" and self.target is not None:
            document.update(
                operation=self.operation,
                url_map=self.target.url_map,
                host=self.target.host,
                path=self.target.path,
            )
        if self.status == "failed":
            document.update(error=self.error, retry=self.retry)
        return document


@dataclass(frozen=True)
class ApplyReport:
    """The outcome of `iac apply`: the plan, whether it was applied, and the cache invalidation."""

    plan: PlanSummary
    applied: bool
    invalidation: InvalidationReport = field(default_factory=lambda: InvalidationReport("not-needed"))

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan.to_json(), "applied": self.applied, "invalidation": self.invalidation.to_json()}


def apply(
    loaded: LoadedConfig,
    directory: Path,
    *,
    binary: str,
    lock_timeout: str,
    progress: Progress,
    review: Callable[[PlanSummary], None],
    invalidate: bool = True,
    repack: bool = False,
    renderer: Renderer | None = None,
) -> ApplyReport:
    """Render, init, plan to a file, let `review` see the plan (it raises to refuse), apply exactly that
    plan, then invalidate the CDN cache when the allowlist changed. Nothing to change: nothing applied."""
    target = None
    with workspace(loaded, directory, binary, lock_timeout, progress, repack=repack, renderer=renderer) as ws:
        summary = ws.plan()
        review(summary)
        if summary.has_changes:
            ws.apply()
            progress("apply complete")
            if summary.needs_invalidation and invalidate:
                target = invalidation_target_from(ws.outputs(), "/*")
    if not summary.needs_invalidation:
        return ApplyReport(summary, summary.has_changes)
    if target is None:
        progress("allowlist changed but --no-invalidate: cached objects are served until they expire")
        return ApplyReport(summary, True, InvalidationReport("skipped"))
    return ApplyReport(summary, True, invalidate_cache(loaded, target, progress))


def invalidate_cache(loaded: LoadedConfig, target: InvalidationTarget, progress: Progress) -> InvalidationReport:
    """Invalidate the cache; a failure is reported (with the command that retries it), not raised."""
    from iac.invalidate import CredentialsMissing, InvalidationError, api_endpoint
    from iac.invalidate import invalidate_cache as request_invalidation

    retry = f"iac invalidate -c {shlex.quote(str(loaded.path))} --path {shlex.quote(target.path)}"
    try:
        operation = request_invalidation(
            target, endpoint=api_endpoint(loaded.config.gcp.api_endpoint), progress=progress
        )
    except CredentialsMissing as exc:
        return InvalidationReport("failed", target, error=str(exc), retry=retry, setup=True)
    except InvalidationError as exc:
        return InvalidationReport("failed", target, error=str(exc), retry=retry)
    progress(f"CDN cache invalidated: https://{target.host}{target.path} on {target.url_map} ({operation})")
    return InvalidationReport("done", target, operation=operation)


def url_map_name(name: str) -> str:
    """The URL map to invalidate, from the config alone: no Terraform state needed."""
    return ResourceNames.of(name).url_map


def invalidation_target_from(outputs: dict[str, Any], path: str) -> InvalidationTarget:
    """The URL map, project and host to invalidate, from the applied configuration's outputs."""
    from iac.invalidate import InvalidationTarget

    try:
        return InvalidationTarget(
            project=str(outputs["project_id"]),
            url_map=str(outputs["url_map_name"]),
            host=str(outputs["domain"]),
            path=path,
        )
    except KeyError as missing:
        raise IacError(f"the applied configuration has no output {missing}: cannot invalidate the CDN cache") from None
