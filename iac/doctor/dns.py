"""The dns check: does the config's domain resolve to the load balancer's address, and to it alone?"""

from __future__ import annotations

import socket

from iac.doctor.findings import Findings
from iac.doctor.report import Check


def check_dns(findings: Findings) -> Check:
    domain = findings.loaded.config.domain
    try:
        infos = socket.getaddrinfo(domain, 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        findings.resolves = False
        where = findings.address or "the load balancer's address (output ip_address)"
        return Check(
            "dns",
            "fail",
            f"{domain} does not resolve ({exc.strerror or exc})",
            f"create an A record {domain} -> {where} (output dns_record_to_create), or with dns_zone check "
            "that the zone is delegated to Cloud DNS",
        )
    findings.resolves = True
    found = sorted({str(info[4][0]) for info in infos})
    if findings.address is None:
        return Check(
            "dns",
            "skip",
            f"{domain} resolves to {', '.join(found)}; not compared: the load balancer's address is unknown "
            "(see address)",
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
        f"point {domain}'s A record at {findings.address} (output dns_record_to_create) and wait for the old "
        "record's TTL",
    )
