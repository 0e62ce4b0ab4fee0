"""The dns check: does the config's domain resolve to the load balancer's address, and to it alone?"""

from __future__ import annotations

import socket

from iac.doctor.findings import Findings
from iac.doctor.report import Check


def a_record_fix(findings: Findings) -> str:
    """Where the domain's A record comes from and what to do about it: the Cloud DNS zone `iac apply` writes it
    in (with dns_zone), else the record the user creates (output dns_record_to_create)."""
    config = findings.loaded.config
    address = findings.address or "the load balancer's address (output ip_address)"
    if config.dns_zone:
        return (
            f"`iac apply` writes the A record {config.domain} -> {address} in the Cloud DNS zone {config.dns_zone}: "
            f"run it, and check that the zone is the one the domain is delegated to (`gcloud dns managed-zones "
            f"describe {config.dns_zone} --project {config.project}` lists its name servers; the parent domain's NS "
            "records must name them)"
        )
    return f"create the A record {config.domain} -> {address} (output dns_record_to_create)"


def check_dns(findings: Findings) -> Check:
    domain = findings.loaded.config.domain
    try:
        infos = socket.getaddrinfo(domain, 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        findings.resolves = False
        return Check("dns", "fail", f"{domain} does not resolve ({exc.strerror or exc})", a_record_fix(findings))
    findings.resolves = True
    found = sorted({str(info[4][0]) for info in infos})
    if findings.address is None:
        return Check(
            "dns",
            "skip",
            f"{domain} resolves to {', '.join(found)}; not compared: the address check did not find the load "
            "balancer's address",
        )
    if found == [findings.address]:
        return Check("dns", "ok", f"{domain} resolves to {findings.address}, the load balancer's address")
    if findings.address in found:
        others = [ip for ip in found if ip != findings.address]
        return Check(
            "dns",
            "warn",
            f"{domain} resolves to {findings.address} (the load balancer) and also to {', '.join(others)}",
            f"remove the other A/AAAA records of {domain}: clients using them do not reach the load balancer",
        )
    return Check(
        "dns",
        "fail",
        f"{domain} resolves to {', '.join(found)}, not the load balancer's address {findings.address}",
        f"{a_record_fix(findings)}; then wait for the old record's TTL",
    )
