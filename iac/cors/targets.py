"""`iac cors render|apply|check` across targets: each through its provider in `PROVIDERS`, one result each.

The checks that hold whatever a bucket holds (the methods a provider accepts) are made here, once, before any call;
the rule limit once the live rules are known, before writing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from iac.config.cors import CorsConfig, CorsTarget
from iac.cors import aws, azure, gcs, otc
from iac.cors.policy import Native, merge, missing_grants
from iac.cors.provider import CorsStore, Document, Provider, check_methods
from iac.errors import IacError

# Every provider by the name a target's `provider:` gives (its NAME, the config's tag of its target type), in the
# config's order; each module keeps its SDK imports to its Store.
PROVIDERS: dict[str, Provider[Any]] = {p.NAME: p for p in (gcs.PROVIDER, aws.PROVIDER, azure.PROVIDER, otc.PROVIDER)}


@dataclass
class TargetResult:
    """What happened to one target: status is changed, unchanged, would-change, ok or failed."""

    provider: str
    target: str
    status: str
    detail: str = ""
    before: list[Native] = field(default_factory=list)
    after: list[Native] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"provider": self.provider, "target": self.target, "status": self.status}
        if self.detail:
            document["detail"] = self.detail
        if self.status in ("changed", "would-change"):
            document["before"], document["after"] = self.before, self.after
        return document


def selected(cors: CorsConfig, only: str | None) -> list[CorsTarget]:
    if only is not None and only not in PROVIDERS:
        raise IacError(f"--provider {only!r}: use one of {', '.join(PROVIDERS)}")
    targets = [t for t in cors.targets if only is None or t.provider == only]
    if not targets:
        where = f" for provider {only}" if only else ""
        raise IacError(f"no cors.targets{where} in the config: nothing to do")
    return targets


def check_limits(cors: CorsConfig, targets: list[CorsTarget]) -> None:
    """Provider limits that hold whatever the buckets contain (the methods each accepts), checked before any call."""
    rule = cors.rule()
    for target in targets:
        provider = PROVIDERS[target.provider]
        check_methods(provider.NAME, provider.METHODS, rule)


def documents(cors: CorsConfig) -> list[Document]:
    """Each target's native CORS document, and Terraform where the provider has a CORS resource of its own
    (S3; GCS, Azure and OBS keep CORS inside the bucket or account resource), each with what to do with it."""
    check_limits(cors, cors.targets)
    rule = cors.rule()
    return [document for target in cors.targets for document in PROVIDERS[target.provider].documents(target, rule)]


@dataclass
class _Live:
    """A target opened and read: its provider, its store and its rules (or why that failed)."""

    target: CorsTarget
    provider: Provider[Any]
    label: str
    store: CorsStore | None = None
    rules: list[Native] = field(default_factory=list)
    error: str | None = None


def _read_all(targets: list[CorsTarget], progress: Callable[[str], None]) -> Iterator[_Live]:
    for target in targets:
        provider = PROVIDERS[target.provider]
        live = _Live(target=target, provider=provider, label=provider.describe(target))
        progress(f"{live.label}: reading CORS")
        try:
            live.store = provider.Store(target)
            live.rules = live.store.read()
        except IacError as exc:
            live.error = _detail(live.label, exc)
        yield live


def _detail(label: str, exc: IacError) -> str:
    """A store's message without the target's name in front: the result names the target once."""
    return str(exc).removeprefix(f"{label}: ")


def apply(cors: CorsConfig, only: str | None, dry_run: bool, progress: Callable[[str], None]) -> list[TargetResult]:
    """Read-modify-write every selected target: iac's rule replaced or added, every other rule kept."""
    targets = selected(cors, only)
    check_limits(cors, targets)
    rule = cors.rule()
    results = []
    for live in _read_all(targets, progress):
        name, label, current = live.target.provider, live.label, live.rules
        if live.error is not None:
            results.append(TargetResult(name, label, "failed", live.error))
            continue
        wanted = merge(current, live.provider.native(rule), live.provider.parse, rule)
        if wanted == current:
            results.append(TargetResult(name, label, "unchanged", "iac's rule is already in place"))
        elif len(wanted) > live.provider.MAX_RULES:
            results.append(
                TargetResult(
                    name,
                    label,
                    "failed",
                    f"would hold {len(wanted)} CORS rules but {name} allows {live.provider.MAX_RULES}: "
                    "remove rules of other apps first",
                )
            )
        elif dry_run:
            results.append(TargetResult(name, label, "would-change", "", current, wanted))
        else:
            assert live.store is not None  # opened, since reading it did not fail
            try:
                live.store.write(wanted)
            except IacError as exc:
                results.append(TargetResult(name, label, "failed", _detail(label, exc)))
                continue
            kept = f"rules of other apps kept: {len(wanted) - 1}"
            results.append(TargetResult(name, label, "changed", kept, current, wanted))
    return results


def check(cors: CorsConfig, only: str | None, progress: Callable[[str], None]) -> list[TargetResult]:
    """Whether each target's live rules let every configured origin use every configured method."""
    rule = cors.rule()
    results = []
    for live in _read_all(selected(cors, only), progress):
        name, label = live.target.provider, live.label
        if live.error is not None:
            results.append(TargetResult(name, label, "failed", live.error))
            continue
        rules = [live.provider.parse(native) for native in live.rules]
        missing = missing_grants(rules, rule.origins, rule.methods)
        if missing:
            results.append(TargetResult(name, label, "failed", "not allowed: " + ", ".join(missing)))
        else:
            methods = ", ".join(rule.methods)
            results.append(TargetResult(name, label, "ok", f"Encord origins allowed for {methods}"))
    return results


def describe_change(result: TargetResult) -> list[str]:
    """The rules a change removes and adds, one JSON line each, for the diff."""
    before = [json.dumps(r, sort_keys=True) for r in result.before]
    after = [json.dumps(r, sort_keys=True) for r in result.after]
    return [f"  - {r}" for r in before if r not in after] + [f"  + {r}" for r in after if r not in before]
