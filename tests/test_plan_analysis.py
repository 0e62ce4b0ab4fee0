"""Reading plans of the real module (Terraform's JSON plan format, format_version 1.2)."""

from __future__ import annotations

from typing import Any

import pytest

from iac.terraform.plan import action_of, summarize

MODULE = "module.direct_access"


def change(address: str, rtype: str, actions: list[str], mode: str = "managed") -> dict[str, Any]:
    name = address.rsplit(".", 1)[-1].split("[")[0]
    return {
        "address": f"{MODULE}.{address}",
        "module_address": MODULE,
        "mode": mode,
        "type": rtype,
        "name": name,
        "provider_name": "registry.terraform.io/hashicorp/google",
        "change": {"actions": actions, "before": None, "after": None, "after_unknown": {}},
    }


def plan(resources: list[dict[str, Any]], before: list[str] | None, after: list[str]) -> dict[str, Any]:
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "resource_changes": resources,
        "output_changes": {
            "allowlist_ranges": {
                "actions": ["no-op"] if before == after else (["create"] if before is None else ["update"]),
                "before": before,
                "after": after,
                "after_unknown": False,
                "before_sensitive": False,
                "after_sensitive": False,
            },
            "url_map_name": {"actions": ["no-op"], "before": "encord-da-url-map", "after": "encord-da-url-map"},
        },
    }


RANGES = ["39.42.20.11/32", "130.192.120.23/32"]


def test_allowlist_rotation_updates_both_policies_in_place() -> None:
    summary = summarize(
        plan(
            [
                change('google_compute_security_policy.default["edge"]', "google_compute_security_policy", ["update"]),
                change(
                    'google_compute_security_policy.default["backend"]', "google_compute_security_policy", ["update"]
                ),
                change("google_compute_backend_service.default", "google_compute_backend_service", ["no-op"]),
                change("google_storage_bucket.bucket[0]", "google_storage_bucket", ["no-op"]),
            ],
            before=RANGES,
            after=["39.42.20.11/32", "81.2.69.0/24"],
        )
    )
    assert summary.has_changes
    assert [(c.address.removeprefix(MODULE + "."), c.action) for c in summary.resources] == [
        ('google_compute_security_policy.default["backend"]', "update"),
        ('google_compute_security_policy.default["edge"]', "update"),
    ]
    assert summary.counts() == {"create": 0, "update": 2, "replace": 0, "delete": 0, "forget": 0, "import": 0}
    assert summary.allowlist_added == ["81.2.69.0/24"]
    assert summary.allowlist_removed == ["130.192.120.23/32"]
    assert summary.allowlist_changed and summary.needs_invalidation
    assert summary.to_json()["allowlist"] == {
        "changed": True,
        "needs_invalidation": True,
        "security_policies_changed": True,
        "added": ["81.2.69.0/24"],
        "removed": ["130.192.120.23/32"],
    }


def test_a_policy_change_without_a_range_change_still_invalidates() -> None:
    # e.g. someone edited the policy in the console and Terraform puts it back
    summary = summarize(
        plan(
            [change('google_compute_security_policy.default["edge"]', "google_compute_security_policy", ["update"])],
            before=RANGES,
            after=RANGES,
        )
    )
    assert summary.allowlist_added == [] and summary.allowlist_removed == []
    assert summary.needs_invalidation


def test_changes_elsewhere_do_not_invalidate() -> None:
    summary = summarize(
        plan(
            [
                change("google_compute_backend_service.default", "google_compute_backend_service", ["update"]),
                change(
                    "google_compute_managed_ssl_certificate.default",
                    "google_compute_managed_ssl_certificate",
                    ["create", "delete"],
                ),
                change("google_dns_record_set.default[0]", "google_dns_record_set", ["delete"]),
            ],
            before=RANGES,
            after=RANGES,
        )
    )
    assert summary.counts() == {"create": 0, "update": 1, "replace": 1, "delete": 1, "forget": 0, "import": 0}
    assert not summary.allowlist_changed
    assert not summary.needs_invalidation


def test_first_deployment_has_no_cache_to_invalidate() -> None:
    summary = summarize(
        plan(
            [
                change('google_compute_security_policy.default["edge"]', "google_compute_security_policy", ["create"]),
                change("google_compute_url_map.default", "google_compute_url_map", ["create"]),
            ],
            before=None,
            after=RANGES,
        )
    )
    assert summary.allowlist_changed and summary.first_deployment
    assert not summary.needs_invalidation


def test_replacing_a_policy_invalidates() -> None:
    summary = summarize(
        plan(
            [
                change(
                    'google_compute_security_policy.default["edge"]',
                    "google_compute_security_policy",
                    ["delete", "create"],
                )
            ],
            before=RANGES,
            after=RANGES,
        )
    )
    assert summary.resources[0].action == "replace"
    assert summary.needs_invalidation


def test_no_changes_and_data_source_reads() -> None:
    summary = summarize(
        plan(
            [
                change("data.google_storage_bucket.bucket[0]", "google_storage_bucket", ["read"], mode="data"),
                change("google_compute_url_map.default", "google_compute_url_map", ["no-op"]),
            ],
            before=RANGES,
            after=RANGES,
        )
    )
    assert not summary.has_changes
    assert summary.resources == ()
    assert not summary.needs_invalidation


@pytest.mark.parametrize(
    ("actions", "word"),
    [
        (["no-op"], None),
        (["read"], None),
        (["create"], "create"),
        (["update"], "update"),
        (["delete", "create"], "replace"),
        (["create", "delete"], "replace"),
        (["delete"], "delete"),
        (["forget"], "forget"),
    ],
)
def test_action_words(actions: list[str], word: str | None) -> None:
    assert action_of(actions) == word


def test_unknown_actions_are_not_silently_ignored() -> None:
    with pytest.raises(ValueError, match="unknown planned actions"):
        action_of(["teleport"])
