"""`iac plan` and `iac apply`: render, init, plan to a file, show, apply exactly that plan."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iac.config import LoadedConfig
from iac.errors import IacError
from iac.files import write_tree
from iac.plan import PlanSummary, summarize
from iac.render import render
from iac.terraform import Progress, Terraform

# The module names the HTTPS URL map "<name>-url-map" (modules/gcp-direct-access/frontend.tf), so an
# invalidation can be requested from the config alone, without reading Terraform state.
URL_MAP_SUFFIX = "-url-map"

# The saved plan embeds a copy of the state (and so the HMAC secret): it only lives while iac runs.
PLAN_FILE = "iac.tfplan"


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
    loaded: LoadedConfig, directory: Path, binary: str, lock_timeout: str, progress: Progress
) -> Iterator[Workspace]:
    """Render `loaded` into `directory` and run `terraform init`; the plan file is removed on exit."""
    rendered = render(loaded)
    write_tree(directory, rendered.files)
    progress(f"rendered {directory}/ ({rendered.resources} resources, {rendered.ranges} allowlist ranges)")
    terraform = Terraform(binary=binary, working_dir=directory, lock_timeout=lock_timeout, progress=progress)
    try:
        terraform.init()
        yield Workspace(loaded=loaded, directory=directory, terraform=terraform)
    finally:
        (directory / PLAN_FILE).unlink(missing_ok=True)


def url_map_name(name: str) -> str:
    return f"{name}{URL_MAP_SUFFIX}"


def invalidation_target_from(outputs: dict[str, Any], path: str) -> Any:
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
