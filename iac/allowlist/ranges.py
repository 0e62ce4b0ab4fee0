"""Allowlist normalisation: validate, collapse and sort the IP ranges Cloud Armor lets through."""

from __future__ import annotations

import bisect
import ipaddress
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from iac.words import plural

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


def _blocked_spans(version: int) -> tuple[list[int], list[int]]:
    """The ranges of _NOT_GLOBAL of one IP version merged into disjoint spans, sorted: (firsts, lasts)."""
    firsts: list[int] = []
    lasts: list[int] = []
    for first, last in sorted((f, la) for v, f, la, _, _ in _NOT_GLOBAL_BOUNDS if v == version):
        if lasts and first <= lasts[-1] + 1:
            lasts[-1] = max(lasts[-1], last)
        else:
            firsts.append(first)
            lasts.append(last)
    return firsts, lasts


# For the one question asked of every entry, whether it touches any of them: one bisection, not a scan.
_BLOCKED_SPANS = {4: _blocked_spans(4), 6: _blocked_spans(6)}


def _touches_blocked(version: int, first: int, last: int) -> bool:
    firsts, lasts = _BLOCKED_SPANS[version]
    candidate = bisect.bisect_right(firsts, last) - 1
    return candidate >= 0 and lasts[candidate] >= first


class AllowlistEntryError(ValueError):
    """One entry of the allowlist is unacceptable; `index` is its position in the list."""

    def __init__(self, index: int, value: object, message: str) -> None:
        self.index = index
        self.value = value
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Allowlist:
    """The normalised allowlist: sorted, collapsed ranges and how they map onto Cloud Armor rules.

    `networks` are the `ranges` as network objects, in the same order: parsed once, when the config is
    validated, and carried to the rule assignment and the rendering.
    """

    ranges: tuple[str, ...]
    entries: int
    networks: tuple[Network, ...]

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
        network = parse_network(text)
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
    found = not_global(network)
    if found is None:
        return network
    blocked, kind, inside = found
    raise AllowlistEntryError(
        index,
        raw,
        f"{'is in' if inside else 'overlaps'} {blocked} ({kind}): no request from the internet comes from there; "
        "use the network's public egress address instead",
    )


def not_global(network: Network) -> tuple[Network, str, bool] | None:
    """The first special-purpose block (`_NOT_GLOBAL`) `network` touches, what kind it is and whether `network`
    lies inside it; None for a network no client on the internet is refused from."""
    network_version, first, last = network_span(network)
    if not _touches_blocked(network_version, first, last):
        return None
    for version, blocked_first, blocked_last, blocked, kind in _NOT_GLOBAL_BOUNDS:
        if network_version == version and first <= blocked_last and last >= blocked_first:
            return blocked, kind, blocked_first <= first and last <= blocked_last
    return None


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


def from_networks(networks: Sequence[Network], texts: Sequence[str] | None = None) -> Allowlist:
    """The allowlist of entries already validated (`parse_entry`): merged and sorted. `texts`, when given,
    are the entries' `network_text`, in the same order (a range that merges with nothing keeps its own)."""
    merged = collapse_networks(networks)
    known = {id(network): text for network, text in zip(networks, texts, strict=True)} if texts is not None else {}
    return Allowlist(
        ranges=tuple(known.get(id(n)) or network_text(n) for n in merged),
        entries=len(networks),
        networks=tuple(merged),
    )


def range_notes(allowlist: Allowlist, notes: Iterable[tuple[Network, str]]) -> dict[str, str]:
    """Each range's comment: the comments of the entries it holds, in the file's order, each once, joined by
    "; ". Ranges whose entries have none are left out. Every entry lies in one range (the ranges are the
    entries collapsed): found by bisection, not by comparing every entry with every range."""
    spans: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
    for text, network in zip(allowlist.ranges, allowlist.networks, strict=True):
        spans[network.version].append((int(network.network_address), int(network.broadcast_address), text))
    for version in spans:
        spans[version].sort()
    starts = {version: [first for first, _, _ in items] for version, items in spans.items()}
    found: dict[str, dict[str, None]] = {}
    for network, note in notes:
        if not note:
            continue
        items = spans[network.version]
        index = bisect.bisect_right(starts[network.version], int(network.network_address)) - 1
        if index >= 0 and items[index][1] >= int(network.broadcast_address):
            found.setdefault(items[index][2], {})[note] = None
    return {text: "; ".join(notes_of_range) for text, notes_of_range in found.items()}


# An IPv4 address or CIDR as people write it (no leading zeros, which ipaddress refuses too): parsed
# here without ipaddress's string parser, a large share of loading a long list. Anything else goes to it.
_OCTET = r"(0|[1-9][0-9]{0,2})"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?:/([0-9]{{1,2}}))?")


def _ipv4(text: str) -> tuple[int, int] | None:
    """(address, prefix) of an IPv4 address or CIDR as _IPV4 reads it (no prefix: 32), or None for anything
    else (IPv6, an octet over 255, a prefix over 32: ipaddress's to parse, or to refuse in its words)."""
    match = _IPV4.fullmatch(text)
    if match is None:
        return None
    a, b, c, d = map(int, match.group(1, 2, 3, 4))
    prefix = 32 if match.group(5) is None else int(match.group(5))
    if max(a, b, c, d) > 255 or prefix > 32:
        return None
    return (a << 24) | (b << 16) | (c << 8) | d, prefix


def parse_network(text: str) -> Network:
    """`ipaddress.ip_network(text, strict=True)`, the same result and errors, faster for IPv4."""
    ipv4 = _ipv4(text)
    if ipv4 is not None:
        return ipaddress.IPv4Network(ipv4)
    return ipaddress.ip_network(text, strict=True)


def is_network_text(text: str) -> bool:
    """Whether `text` is a network as `network_text` writes it (`1.2.3.0/24`, never `1.2.3.4`); for IPv4
    without building the network, as when a rendering's 20,000 ranges are read back."""
    ipv4 = _ipv4(text)
    if ipv4 is not None:
        address, prefix = ipv4
        # Written with its prefix, without leading zeros (`/8`, not `/08` or none), and no host bits.
        return text.endswith(f"/{prefix}") and address & ((1 << (32 - prefix)) - 1) == 0
    try:
        return network_text(parse_network(text)) == text
    except ValueError:
        return False


def network_text(network: Network) -> str:
    """`str(network)`, written out here for IPv4 (the common case of a long list)."""
    if network.version == 6:
        return str(network)
    first = int(network.network_address)
    return f"{first >> 24}.{first >> 16 & 255}.{first >> 8 & 255}.{first & 255}/{network.prefixlen}"


def collapse(networks: Sequence[Network]) -> tuple[str, ...]:
    """Merge duplicates, overlaps and neighbours; IPv4 before IPv6, each by address."""
    return tuple(network_text(n) for n in collapse_networks(networks))


def collapse_networks(networks: Sequence[Network]) -> list[Network]:
    """`collapse` as networks: the fewest CIDRs covering exactly the same addresses, in `sort_key` order.

    The same result as `ipaddress.collapse_addresses`, computed on integer bounds in one sort; a network of
    the input that survives unchanged is returned as it was given.
    """
    given: dict[tuple[int, int, int], Network] = {sort_key(n): n for n in networks}
    spans = sorted((version, first, last_address(version, first, prefix)) for version, first, prefix in given)
    result: list[Network] = []
    for version, first, last in merged_spans(spans):
        for start, prefix in span_cidrs(version, first, last):
            result.append(given.get((version, start, prefix)) or network_at(version, start, prefix))
    return result


def version_bits(version: int) -> int:
    return 32 if version == 4 else 128


def last_address(version: int, first: int, prefix: int) -> int:
    return first + (1 << (version_bits(version) - prefix)) - 1


def network_span(network: Network) -> tuple[int, int, int]:
    first = int(network.network_address)
    return network.version, first, last_address(network.version, first, network.prefixlen)


def merged_spans(spans: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Sorted (version, first, last) spans with overlapping and adjacent ones joined."""
    merged: list[tuple[int, int, int]] = []
    for version, first, last in spans:
        if merged and merged[-1][0] == version and first <= merged[-1][2] + 1:
            if last > merged[-1][2]:
                merged[-1] = (version, merged[-1][1], last)
        else:
            merged.append((version, first, last))
    return merged


def span_cidrs(version: int, first: int, last: int) -> Iterable[tuple[int, int]]:
    """The fewest CIDRs (start, prefix length) that cover first..last exactly, in order."""
    bits = version_bits(version)
    while first <= last:
        aligned = (first & -first).bit_length() - 1 if first else bits
        size = min(aligned, (last - first + 1).bit_length() - 1)
        yield first, bits - size
        first += 1 << size


def network_at(version: int, first: int, prefix: int) -> Network:
    if version == 4:
        return ipaddress.IPv4Network((first, prefix))
    return ipaddress.IPv6Network((first, prefix))


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
        f"but allowlist_max_rules is {max_rules}: remove or merge {plural(excess, 'range')} "
        "(into wider CIDRs), or raise allowlist_max_rules "
        "if the project's SECURITY_POLICY_RULES quota allows it"
    )


def missing_from(ranges: Sequence[str], other: Sequence[str]) -> list[str]:
    """The ranges of `ranges` that `other` does not have, in order: one side of an allowlist diff."""
    present = set(other)
    return [r for r in ranges if r not in present]
