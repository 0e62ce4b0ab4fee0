"""What becomes of the CDN cache after a change: the invalidation an apply (or `iac invalidate`) requests, reported
rather than raised, with the command that retries it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iac.config.load import LoadedConfig
from iac.errors import IacError, Interrupted
from iac.gcp.names import ResourceNames
from iac.terraform.runner import Progress

if TYPE_CHECKING:
    from iac.gcp.invalidate import InvalidationTarget


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


def retry_command(loaded: LoadedConfig, path: str) -> str:
    """The command that invalidates the CDN cache again, for a failed or missed invalidation."""
    return f"iac invalidate -c {shlex.quote(str(loaded.path))} --path {shlex.quote(path)}"


def invalidate_cache(loaded: LoadedConfig, target: InvalidationTarget, progress: Progress) -> InvalidationReport:
    """Invalidate the cache; a failure is reported (with the command that retries it), not raised."""
    from iac.gcp import credentials as gcp
    from iac.gcp.invalidate import invalidate_cache as request_invalidation

    retry = retry_command(loaded, target.path)
    try:
        operation = request_invalidation(
            target, endpoint=gcp.api_endpoint(loaded.config.gcp.api_endpoint), progress=progress
        )
    except (gcp.CredentialsMissing, gcp.EndpointRefused) as exc:  # a setup problem: retrying cannot help
        return InvalidationReport("failed", target, error=str(exc), retry=retry, setup=True)
    except Interrupted:
        raise
    except IacError as exc:  # InvalidationError, or an answer too large to read (BodyTooLarge)
        return InvalidationReport("failed", target, error=str(exc), retry=retry)
    progress(f"CDN cache invalidated: https://{target.host}{target.path} on {target.url_map} ({operation})")
    return InvalidationReport("done", target, operation=operation)


def url_map_name(name: str) -> str:
    """The URL map to invalidate, from the config alone: no Terraform state needed."""
    return ResourceNames.of(name).url_map


def invalidation_target_from(outputs: dict[str, Any], path: str) -> InvalidationTarget:
    """The URL map, project and host to invalidate, from the applied configuration's outputs."""
    from iac.gcp.invalidate import InvalidationTarget

    try:
        return InvalidationTarget(
            project=str(outputs["project_id"]),
            url_map=str(outputs["url_map_name"]),
            host=str(outputs["domain"]),
            path=path,
        )
    except KeyError as missing:
        raise IacError(f"the applied configuration has no output {missing}: cannot invalidate the CDN cache") from None
