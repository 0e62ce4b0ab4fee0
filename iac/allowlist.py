"""Allowlist normalisation: validate, collapse and sort the IP ranges Cloud Armor lets through."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Cloud Armor accepts at most this many ranges in one rule's src_ip_ranges (SRC_IPS_V1).
RANGES_PER_RULE = 10
# Priority of the first allow rule; a fresh packing numbers its rules from here, one apart.
FIRST_PRIORITY = 1000
# Cloud Armor's default rule, which always denies here: no allow rule may take its priority.
DEFAULT_RULE_PRIORITY = 2_147_483_647
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
    # The two addresses of ::/96 first: the first block that matches gives the reason.
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible, deprecated by RFC 4291: write the IPv4 address itself"),
    ("::ffff:0:0/96", "IPv4-mapped: write the IPv4 address itself"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("2001:2::/48", "benchmarking, RFC 5180"),
    ("2001:10::/28", "ORCHID, RFC 4843"),
    ("2001:20::/28", "ORCHIDv2, RFC 7343"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation, RFC 9637"),
    ("5f00::/16", "SRv6 SIDs, RFC 9602"),
    ("fc00::/7", "unique local, private"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local, deprecated by RFC 3879"),
    ("ff00::/8", "multicast"),
)
# A public range shorter than this prefix (per IP version) allows more addresses than one site or one ISP
# customer has: accepted, with a warning that names how many.
_WIDE_BELOW = {4: 16, 6: 32}
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
    if "%" in text:
        raise AllowlistEntryError(
            index,
            raw,
            "has a zone id (%...), which names an interface of one machine, not an address on the internet: "
            "write the address without it",
        )
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


def width_warning(network: Network) -> str | None:
    """A warning for a public range wider than a site's (shorter than /16 for IPv4, /32 for IPv6), or None."""
    if network.prefixlen >= _WIDE_BELOW[network.version]:
        return None
    bits = network.max_prefixlen - network.prefixlen
    count = f"{network.num_addresses:,}" if network.version == 4 else f"2^{bits}"
    return (
        f"{network} allows {count} addresses (wider than /{_WIDE_BELOW[network.version]}): "
        "make sure every one of them may read the data, or list narrower ranges"
    )


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


def from_entries(entries: Sequence[str]) -> Allowlist:
    """The allowlist of entries already validated (`parse_entry`): merged and sorted."""
    return Allowlist(ranges=collapse([ipaddress.ip_network(entry) for entry in entries]), entries=len(entries))


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


@dataclass(frozen=True)
class Rule:
    """One Cloud Armor allow rule: its priority and its ranges (at most 10, sorted)."""

    priority: int
    ranges: tuple[str, ...]


@dataclass(frozen=True)
class RuleChange:
    """How one rule differs between two assignments; a rule that appears or goes has only one side."""

    priority: int
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"priority": self.priority, "added": list(self.added), "removed": list(self.removed)}


@dataclass(frozen=True)
class Assignment:
    """Which rule holds which range. `repacked` says a full repack replaced an earlier assignment."""

    rules: tuple[Rule, ...]
    repacked: bool = False


def pack(ranges: Sequence[str]) -> tuple[Rule, ...]:
    """The optimal packing: ceil(n / 10) rules of sorted ranges at consecutive priorities."""
    ordered = _sorted(ranges)
    return tuple(
        Rule(FIRST_PRIORITY + i, tuple(ordered[start : start + RANGES_PER_RULE]))
        for i, start in enumerate(range(0, len(ordered), RANGES_PER_RULE))
    )


def assign(
    ranges: Sequence[str], current: Sequence[Rule] | None, max_rules: int, *, repack: bool = False
) -> Assignment:
    """Put `ranges` into rules, changing as few rules of `current` as possible.

    A range that stays keeps its rule. Removed ranges leave their rule (an emptied rule goes); added
    ranges go first into rules that changed anyway, then into the rule with the most room, and a new
    rule (the lowest free priority from FIRST_PRIORITY on) is opened only when no rule has room. So an
    address that stays allowlisted is never moved, and Cloud Armor never has to drop it on the way.
    Without a current assignment, with `repack`, or when the result would need more than `max_rules`
    rules, the ranges are packed afresh (`pack`).
    """
    if not current:
        return Assignment(pack(ranges))
    if repack:
        fresh = pack(ranges)
        return Assignment(fresh, repacked=fresh != tuple(current))
    wanted = set(ranges)
    placed: set[str] = set()
    held: dict[int, list[str]] = {}
    changed: list[int] = []
    for rule in sorted(current, key=lambda r: r.priority):
        if rule.priority in held or not 0 <= rule.priority < DEFAULT_RULE_PRIORITY:
            continue
        kept = [r for r in rule.ranges if r in wanted and r not in placed][:RANGES_PER_RULE]
        placed.update(kept)
        held[rule.priority] = kept
        if len(kept) != len(rule.ranges):
            changed.append(rule.priority)
    for cidr in _sorted(r for r in wanted if r not in placed):
        priority = _rule_for(held, changed)
        held.setdefault(priority, []).append(cidr)
        if priority not in changed:
            changed.append(priority)
    rules = tuple(Rule(p, tuple(_sorted(held[p]))) for p in sorted(held) if held[p])
    if len(rules) > max_rules:
        return Assignment(pack(ranges), repacked=True)
    return Assignment(rules)


def _rule_for(held: dict[int, list[str]], changed: list[int]) -> int:
    """Where the next added range goes: a rule that changes anyway, else the roomiest, else a new one."""
    for priority in changed:
        if len(held[priority]) < RANGES_PER_RULE:
            return priority
    roomiest = min(held, key=lambda p: (len(held[p]), p), default=None)
    if roomiest is not None and len(held[roomiest]) < RANGES_PER_RULE:
        return roomiest
    priority = FIRST_PRIORITY
    while priority in held:
        priority += 1
    return priority


def rule_changes(before: Sequence[Rule], after: Sequence[Rule]) -> list[RuleChange]:
    """The rules that differ between two assignments, by priority."""
    old = {rule.priority: rule.ranges for rule in before}
    new = {rule.priority: rule.ranges for rule in after}
    changes = []
    for priority in sorted(old.keys() | new.keys()):
        was, now = old.get(priority, ()), new.get(priority, ())
        if set(was) != set(now):
            changes.append(RuleChange(priority, tuple(missing_from(now, was)), tuple(missing_from(was, now))))
    return changes


def repack_notice(before: Sequence[Rule], after: Sequence[Rule]) -> str:
    """What every command says when a repack moves ranges between rules (see `assign`)."""
    count = len(rule_changes(before, after))
    return f"repacking the allowlist: {count} rule{'' if count == 1 else 's'} change"


def _sorted(ranges: Iterable[str]) -> list[str]:
    return sorted(ranges, key=lambda r: sort_key(ipaddress.ip_network(r)))
