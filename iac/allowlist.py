"""Allowlist normalisation: validate, collapse and sort the IP ranges Cloud Armor lets through."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Cloud Armor accepts at most this many ranges in one rule's src_ip_ranges (SRC_IPS_V1).
RANGES_PER_RULE = 10
# Priority of the first allow rule (the module's allowlist.priority default); the next rules follow it.
FIRST_PRIORITY = 1000
# Rules in one security policy (Cloud Armor default), less the default deny rule.
DEFAULT_MAX_RULES = 199

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Special-purpose blocks that are not globally reachable (IANA IPv4/IPv6 special-purpose registries),
# so no client on the internet can ever have such an address: allowing one is always a mistake.
_NOT_GLOBAL: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network', RFC 791"),
    ("10.0.0.0/8", "private, RFC 1918"),
    ("100.64.0.0/10", "shared address space for carrier-grade NAT, RFC 6598"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private, RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation, TEST-NET-1"),
    ("192.168.0.0/16", "private, RFC 1918"),
    ("198.18.0.0/15", "benchmarking, RFC 2544"),
    ("198.51.100.0/24", "documentation, TEST-NET-2"),
    ("203.0.113.0/24", "documentation, TEST-NET-3"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped: write the IPv4 address itself"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique local, private"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
)
# As (version, first, last, network, kind): integer bounds make the per-entry check cheap for long lists.
_NOT_GLOBAL_BOUNDS: tuple[tuple[int, int, int, Network, str], ...] = tuple(
    (net.version, int(net.network_address), int(net.broadcast_address), net, kind)
    for net, kind in ((ipaddress.ip_network(text), kind) for text, kind in _NOT_GLOBAL)
)


class AllowlistEntryError(ValueError):
    """One entry of the allowlist is unacceptable; `index` is its position in the list."""

    def __init__(self, index: int, value: object, message: str) -> None:
        self.index = index
        self.value = value
        self.message = message
        super().__init__(message)


class AllowlistError(ValueError):
    """Every unacceptable entry of an allowlist, so the user can fix them in one go."""

    def __init__(self, problems: list[AllowlistEntryError]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"entry {p.index}: {p.message}" for p in problems))


@dataclass(frozen=True)
class Allowlist:
    """The normalised allowlist: sorted, collapsed ranges and how they map onto Cloud Armor rules."""

    ranges: tuple[str, ...]
    entries: int

    @property
    def rule_count(self) -> int:
        return rules_needed(len(self.ranges))

    def rules(self) -> list[tuple[str, ...]]:
        """The ranges of each allow rule, in priority order (the module's `chunklist` split)."""
        return [self.ranges[i : i + RANGES_PER_RULE] for i in range(0, len(self.ranges), RANGES_PER_RULE)]


def rules_needed(range_count: int) -> int:
    return math.ceil(range_count / RANGES_PER_RULE)


def parse_entry(index: int, raw: object) -> Network:
    """One allowlist entry as a network: a bare address becomes /32 or /128; anything doubtful is an error."""
    if not isinstance(raw, str):
        raise AllowlistEntryError(
            index, raw, f"must be an IP address or CIDR written as a string, not {type(raw).__name__}"
        )
    text = raw.strip()
    if not text:
        raise AllowlistEntryError(index, raw, "is empty: remove the entry or write an IP address or CIDR")
    if text == "*":
        raise AllowlistEntryError(index, raw, "would allow every address: list the addresses that need access instead")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            raise AllowlistEntryError(index, raw, _host_bits_message(text)) from None
        raise AllowlistEntryError(
            index,
            raw,
            "is not an IP address or CIDR (examples: 39.42.20.11, 130.192.120.0/24, 2a00:1450:4001::/48)",
        ) from None
    if network.prefixlen == 0:
        raise AllowlistEntryError(
            index, raw, "would allow the whole internet: list the addresses that need access instead"
        )
    first, last = int(network.network_address), int(network.broadcast_address)
    for version, blocked_first, blocked_last, blocked, kind in _NOT_GLOBAL_BOUNDS:
        if network.version == version and first <= blocked_last and last >= blocked_first:
            where = "is in" if blocked_first <= first and last <= blocked_last else "overlaps"
            raise AllowlistEntryError(
                index,
                raw,
                f"{where} {blocked} ({kind}): no request from the internet comes from there; "
                "use the network's public egress address instead",
            )
    return network


def _host_bits_message(text: str) -> str:
    network = ipaddress.ip_network(text, strict=False)
    address = text.split("/", 1)[0]
    single = ipaddress.ip_network(address)
    return (
        f"has host bits set: did you mean the network {network} or the single address {single}? "
        "Write the one you mean (iac never widens a range silently)"
    )


def normalise(entries: Sequence[object]) -> Allowlist:
    """Validate every entry, then collapse duplicates, overlaps and neighbours into a sorted list.

    Raises AllowlistError naming every bad entry. Order is IPv4 before IPv6, then by address,
    so a one-address change is a one-line change in the rendered configuration.
    """
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    problems: list[AllowlistEntryError] = []
    for index, raw in enumerate(entries):
        try:
            network = parse_entry(index, raw)
        except AllowlistEntryError as problem:
            problems.append(problem)
            continue
        if isinstance(network, ipaddress.IPv4Network):
            v4.append(network)
        else:
            v6.append(network)
    if problems:
        raise AllowlistError(problems)
    return Allowlist(ranges=collapse([*v4, *v6]), entries=len(entries))


def collapse(networks: Sequence[Network]) -> tuple[str, ...]:
    """Merge duplicates, overlaps and neighbours; IPv4 before IPv6, each by address."""
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    collapsed: list[Network] = [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]
    collapsed.sort(key=sort_key)
    return tuple(str(n) for n in collapsed)


def sort_key(network: Network) -> tuple[int, int, int]:
    return (network.version, int(network.network_address), network.prefixlen)


def over_limit_message(range_count: int, max_rules: int) -> str | None:
    """Why `range_count` ranges do not fit in `max_rules` rules, or None when they do."""
    needed = rules_needed(range_count)
    if needed <= max_rules:
        return None
    excess = range_count - max_rules * RANGES_PER_RULE
    return (
        f"{range_count} ranges need {needed} Cloud Armor rules of {RANGES_PER_RULE}, "
        f"but allowlist_max_rules is {max_rules}: remove or merge {excess} "
        f"range{'s' if excess != 1 else ''} (into wider CIDRs), or raise allowlist_max_rules "
        "if the project's SECURITY_POLICY_RULES quota allows it"
    )


def missing_from(ranges: Sequence[str], other: Sequence[str]) -> list[str]:
    """The ranges of `ranges` that `other` does not have, in order: one side of an allowlist diff."""
    present = set(other)
    return [r for r in ranges if r not in present]
