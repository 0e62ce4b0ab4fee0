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


# --- plans of the two root modules, combined -------------------------------------------------------------------

RULE_TYPE = "google_compute_security_policy_rule"


def rule_change(policy: str, priority: int, actions: list[str], ranges: list[str], *, importing: bool = False) -> dict:
    """A change of one of the allowlist root's rules, with its planned values (what the digest covers)."""
    key = f"{policy}-{priority}"
    item = {
        "address": f'module.allowlist.{RULE_TYPE}.allow["{key}"]',
        "module_address": "module.allowlist",
        "mode": "managed",
        "type": RULE_TYPE,
        "name": "allow",
        "index": key,
        "change": {
            "actions": actions,
            "before": None,
            "after": {"priority": priority, "action": "allow", "match": [{"config": [{"src_ip_ranges": ranges}]}]},
            "after_unknown": {},
        },
    }
    if importing:
        item["change"]["importing"] = {
            "id": f"projects/my-gcp-project/global/securityPolicies/encord-da-{policy}-policy/priority/{priority}"
        }
    return item


def root_plan(resources: list[dict[str, Any]], outputs: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": "1.2", "resource_changes": resources, "output_changes": outputs}


def ranges_output(before: list[str] | None, after: list[str] | None) -> dict[str, Any]:
    actions = (
        ["no-op"] if before == after else ["create"] if before is None else ["delete"] if after is None else ["update"]
    )
    return {"allowlist_ranges": {"actions": actions, "before": before, "after": after, "after_unknown": False}}


def allowlist_rotation(after: list[str]) -> dict[str, Any]:
    """The allowlist root's plan of a rotation: rule 1000 of each policy updated to `after`."""
    return root_plan(
        [rule_change(policy, 1000, ["update"], after) for policy in ("edge", "backend")],
        ranges_output(RANGES, after),
    )


def serving_update(name: str) -> dict[str, Any]:
    """The serving root's plan of an update of the backend service (`name` stands for what changes)."""
    item = change("google_compute_backend_service.default", "google_compute_backend_service", ["update"])
    item["change"]["after"] = {"name": name}
    return root_plan([item], {})


def test_combine_of_one_root_is_that_roots_plan() -> None:
    from iac.terraform.plan import combine

    allowlist = summarize(allowlist_rotation(["39.42.20.11/32", "81.2.69.0/24"]))
    combined = combine([("allowlist", allowlist)])
    assert combined.digest == allowlist.digest
    assert [(c.root, c.address) for c in combined.resources] == [("allowlist", c.address) for c in allowlist.resources]
    assert combined.allowlist_added == ["81.2.69.0/24"] and combined.allowlist_removed == ["130.192.120.23/32"]
    assert combined.needs_invalidation
    document = combined.to_json()
    assert document["roots"] == {"allowlist": allowlist.to_json()}
    assert {r["root"] for r in document["resources"]} == {"allowlist"}


def test_combine_of_two_roots_has_its_own_digest_that_changes_with_either_root() -> None:
    from iac.terraform.plan import combine

    serving, allowlist = summarize(serving_update("a")), summarize(allowlist_rotation(["81.2.69.0/24"]))
    both = combine([("serving", serving), ("allowlist", allowlist)])
    assert both.digest not in (serving.digest, allowlist.digest)
    assert len({serving.digest, allowlist.digest, both.digest}) == 3
    other_serving = combine([("serving", summarize(serving_update("b"))), ("allowlist", allowlist)])
    other_allowlist = combine([("serving", serving), ("allowlist", summarize(allowlist_rotation(["81.2.69.1/32"])))])
    assert len({both.digest, other_serving.digest, other_allowlist.digest}) == 3
    # The same plan again: the same digest (what an approval relies on).
    assert combine([("serving", summarize(serving_update("a"))), ("allowlist", allowlist)]).digest == both.digest
    # Each change keeps its root; the counts are of both.
    assert [(c.root, c.type, c.action) for c in both.resources] == [
        ("serving", "google_compute_backend_service", "update"),
        ("allowlist", RULE_TYPE, "update"),
        ("allowlist", RULE_TYPE, "update"),
    ]
    assert both.counts()["update"] == 3
    assert list(both.to_json()["roots"]) == ["serving", "allowlist"]


def test_an_upgrade_imports_every_rule_and_changes_no_range() -> None:
    """Upgrading a single-root deployment: serving's state still has the allowlist_ranges output, which serving no
    longer declares (it is deleted there), while allowlist/ imports the rules and declares the output anew. The
    allowlist does not change: nothing added, nothing removed, nothing to invalidate."""
    from iac.terraform.plan import combine

    serving = summarize(root_plan([], ranges_output(RANGES, None)))
    allowlist = summarize(
        root_plan(
            [rule_change(policy, 1000, ["no-op"], RANGES, importing=True) for policy in ("edge", "backend")],
            ranges_output(None, RANGES),
        )
    )
    combined = combine([("serving", serving), ("allowlist", allowlist)])
    assert combined.counts()["import"] == 2 and combined.counts()["delete"] == 0
    assert (combined.allowlist_added, combined.allowlist_removed) == ([], [])
    assert not combined.allowlist_changed and not combined.needs_invalidation
    # Planned alone, serving/ does not change the allowlist either: its policies ignore the allow rules.
    alone = combine([("serving", serving)])
    assert (alone.allowlist_added, alone.allowlist_removed, alone.needs_invalidation) == ([], [], False)


def test_a_first_deployment_of_both_roots_has_no_cache_to_invalidate() -> None:
    from iac.terraform.plan import combine

    serving = summarize(
        root_plan(
            [change('google_compute_security_policy.default["edge"]', "google_compute_security_policy", ["create"])],
            {},
        )
    )
    allowlist = summarize(root_plan([rule_change("edge", 1000, ["create"], RANGES)], ranges_output(None, RANGES)))
    combined = combine([("serving", serving), ("allowlist", allowlist)])
    assert combined.allowlist_added == RANGES and combined.first_deployment
    assert not combined.needs_invalidation


def test_the_summary_shows_the_roots_each_resources_root_and_counts_the_imports(tmp_path) -> None:
    """The Markdown summary of an upgrade (both roots planned): which roots, the root of each resource, and the
    imports counted with the other changes."""
    from test_apply import CONFIG

    from iac.allowlist.baseline import of_state
    from iac.allowlist.rules import Rule
    from iac.config.load import load_config
    from iac.terraform.plan import combine
    from iac.terraform.summary import markdown

    serving_change = change("google_compute_backend_service.default", "google_compute_backend_service", ["update"])
    serving = summarize(root_plan([serving_change], ranges_output(RANGES, None)))
    allowlist = summarize(
        root_plan(
            [rule_change(policy, 1000, ["no-op"], RANGES, importing=True) for policy in ("edge", "backend")],
            ranges_output(None, RANGES),
        )
    )
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    loaded = load_config(config)
    baseline = of_state(tmp_path / "build", (Rule(1000, tuple(RANGES)),), adopt=True)
    assignment = baseline.assign(loaded.allowlist.ranges, loaded.config.allowlist_max_rules)
    both = combine([("serving", serving), ("allowlist", allowlist)])
    text = markdown(both, baseline, assignment, loaded, tmp_path / "build")
    assert "Root modules planned: `serving/`, `allowlist/`." in text
    assert "**3 resource changes:** 0 to create, 1 to update, 0 to replace, 0 to delete, 2 to import." in text
    assert f"| update | serving | `{MODULE}.google_compute_backend_service.default` |" in text
    for policy in ("edge", "backend"):
        assert f'| import | allowlist | `module.allowlist.{RULE_TYPE}.allow["{policy}-1000"]` |' in text
    assert "**Allowlist:** unchanged." in text
    # One root planned: that root alone is named.
    alone = markdown(combine([("allowlist", allowlist)]), baseline, assignment, loaded, tmp_path / "build")
    assert "Root modules planned: `allowlist/`." in alone and "| serving |" not in alone
    assert "**2 resource changes:** 0 to create, 0 to update, 0 to replace, 0 to delete, 2 to import." in alone
