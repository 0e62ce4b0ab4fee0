"""The load balancer's resources through the Compute API: the address, certificate and security_policies checks,
and what is wrong with a live security policy or backend service compared with the config.

`google.cloud.compute_v1` is imported only inside the function that makes a client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from iac.allowlist.ranges import DEFAULT_RULE_PRIORITY
from iac.doctor.dns import a_record_fix
from iac.doctor.findings import Findings
from iac.doctor.report import Check
from iac.gcp import credentials as gcp
from iac.gcp.names import ResourceNames
from iac.untrusted import BodyTooLarge, cap_rest_client
from iac.words import plural

# What each `managed.domainStatus` of a Google-managed certificate means.
DOMAIN_STATUS = {
    "ACTIVE": "the certificate covers the domain",
    "PROVISIONING": "Google is obtaining the certificate; this takes up to about an hour once DNS is right",
    "FAILED_NOT_VISIBLE": (
        "the domain does not resolve to the load balancer yet (no A record, an A record pointing elsewhere, "
        "or DNS not propagated); Google keeps retrying"
    ),
    "FAILED_CAA_CHECKING": "the domain's CAA records could not be read (a DNS server problem); Google keeps retrying",
    "FAILED_CAA_FORBIDDEN": (
        "the domain's CAA records do not allow Google's certificate authorities (pki.goog, letsencrypt.org)"
    ),
    "FAILED_RATE_LIMITED": "the certificate authority is rate-limiting certificates for this domain; Google retries",
}
DOMAIN_FIX = {
    "PROVISIONING": "wait: provisioning usually ends within 60 minutes of the domain resolving to the load balancer",
    "FAILED_CAA_CHECKING": "make sure the domain's DNS servers answer CAA queries (`dig CAA <domain>`)",
    "FAILED_CAA_FORBIDDEN": 'add CAA records allowing Google: `0 issue "pki.goog"` and `0 issue "letsencrypt.org"`',
    "FAILED_RATE_LIMITED": "wait; Google retries on its own",
}

_APPLY_FIX = "run `iac apply` (or `iac plan` to see what is missing); check project and name in the config"
_DRIFT_FIX = (
    "the live setup differs from the config (a console change?): `iac plan` shows the difference and `iac apply` "
    "restores the config; if the live change was intended, put it into the config first (`iac allowlist add` / "
    "`remove`)"
)
_ENDPOINT_FIX = (
    "check the network path to the Compute API (gcp.api_endpoint in the config, or IAC_GCP_API_ENDPOINT) and run again"
)


class ComputeUnavailable(Exception):
    """The Compute API cannot be used at all (no answer, no credentials): later Compute checks are skipped.

    The message is the failed check's detail, `fix` what to do, `why` a few words for the checks skipped."""

    def __init__(self, detail: str, fix: str, why: str) -> None:
        super().__init__(detail)
        self.fix = fix
        self.why = why


class Compute:
    """The Compute API checks of one run, on the configured endpoint; each client is made once."""

    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        self.clients: dict[str, Any] = {}

    def client(self, kind: str) -> Any:
        """A google-cloud-compute client (GlobalAddressesClient, ...) on the configured endpoint, made once."""
        if kind not in self.clients:
            from google.cloud import compute_v1

            endpoint = gcp.api_endpoint(self.findings.loaded.config.gcp.api_endpoint)
            try:
                credentials, options = gcp.credentials(
                    endpoint,
                    purpose="to read the deployment with",
                    needs=f"{gcp.listed(gcp.READ_PERMISSIONS)} (e.g. {gcp.READ_ROLE})",
                    env=gcp.COMPUTE_ENDPOINT_ENV,
                )
            except gcp.CredentialsMissing as exc:
                self.findings.credentials_missing = True
                raise ComputeUnavailable(exc.summary, exc.fix, "no Google credentials for the Compute API") from None
            except gcp.EndpointRefused as exc:
                raise ComputeUnavailable(str(exc), _ENDPOINT_FIX, "the Compute API endpoint is refused") from None
            client = getattr(compute_v1, kind)(credentials=credentials, transport="rest", client_options=options)
            # The REST transport reads each answer whole: capped, so a hostile or broken endpoint cannot exhaust memory.
            cap_rest_client(client, what="the Compute API")
            self.clients[kind] = client
        return self.clients[kind]

    def get(self, kind: str, what: str, permission: str, **names: str) -> Any | Check:
        """`get` of one resource; a Check (fail) when it is missing or forbidden; ComputeUnavailable when the API
        does not answer."""
        import requests
        from google.api_core import exceptions as google_exceptions
        from google.auth.exceptions import RefreshError

        timeout = self.findings.timeout
        project = self.findings.loaded.config.project
        try:
            return self.client(kind).get(project=project, **names, retry=None, timeout=timeout())
        except google_exceptions.GoogleAPICallError as exc:
            said = gcp.describe(exc)
            if exc.code == 404:
                return Check("", "fail", f"{what} not found in project {project}: {said}", _APPLY_FIX)
            if exc.code in (401, 403):
                return Check(
                    "",
                    "fail",
                    f"reading {what} was refused: {said}",
                    gcp.grant([permission], project, gcp.READ_ROLE),
                )
            return Check("", "fail", f"reading {what} failed: {said}", "run again; if it persists, check the project")
        except requests.exceptions.Timeout as exc:
            why = f"the Compute API did not answer within {timeout():.0f} s"
            raise ComputeUnavailable(f"{why} ({exc})", _ENDPOINT_FIX, why) from None
        except gcp.network_errors() as exc:
            why = "cannot reach the Compute API"
            raise ComputeUnavailable(f"{why} ({type(exc).__name__}: {exc})", _ENDPOINT_FIX, why) from None
        except RefreshError as exc:
            why = "could not get a Google access token"
            raise ComputeUnavailable(f"{why}: {exc}", gcp.ADC_HELP, why) from None
        except BodyTooLarge as exc:
            raise ComputeUnavailable(str(exc), _ENDPOINT_FIX, "the Compute API answered too much") from None

    def check_address(self) -> Check:
        name = self.findings.names.address
        found = self.get("GlobalAddressesClient", f"global address {name}", "compute.globalAddresses.get", address=name)
        if isinstance(found, Check):
            return Check("address", found.status, found.detail, found.fix)
        if not found.address:
            return Check("address", "fail", f"global address {name} has no IP address", _APPLY_FIX)
        self.findings.address = str(found.address)
        status = f" ({found.status})" if found.status else ""
        return Check("address", "ok", f"global address {name} is {found.address}{status}")

    def check_certificate(self) -> Check:
        name = self.findings.names.certificate
        domain = self.findings.loaded.config.domain
        found = self.get(
            "SslCertificatesClient", f"managed certificate {name}", "compute.sslCertificates.get", ssl_certificate=name
        )
        if isinstance(found, Check):
            return Check("certificate", found.status, found.detail, found.fix)
        managed = found.managed
        status = str(managed.status or "UNKNOWN")
        domains = dict(managed.domain_status)
        per_domain = "; ".join(
            f"{d} {s} ({DOMAIN_STATUS.get(s, 'see the Google Cloud console')})" for d, s in sorted(domains.items())
        )
        covered = list(managed.domains)
        if covered and domain not in covered:
            return Check(
                "certificate",
                "fail",
                f"{name} is for {', '.join(covered)}, not the config's domain {domain}",
                _APPLY_FIX,
            )
        if status == "ACTIVE":
            return Check("certificate", "ok", f"{name} is ACTIVE for {', '.join(covered) or domain}")
        fixes = []
        for state in sorted(set(domains.values())):
            if state == "FAILED_NOT_VISIBLE":
                fixes.append(f"{a_record_fix(self.findings)}; the certificate follows within about an hour")
            elif state in DOMAIN_FIX:
                fixes.append(DOMAIN_FIX[state])
        detail = f"{name} is {status}" + (f": {per_domain}" if per_domain else "")
        if status == "PROVISIONING":
            return Check("certificate", "warn", detail, "; ".join(fixes) or DOMAIN_FIX["PROVISIONING"])
        fixes.append(
            "once the cause is fixed, a certificate that failed for good must be recreated: `terraform -chdir=<dir> "
            "apply -replace=module.direct_access.google_compute_managed_ssl_certificate.default`"
        )
        return Check("certificate", "fail", detail, "; ".join(fixes))

    def check_security_policies(self) -> Check:
        names = self.findings.names
        expected = {_canonical(cidr) for cidr in self.findings.loaded.allowlist.ranges}
        problems: list[str] = []
        summaries: list[str] = []
        for role, policy_name, policy_type in (
            ("edge", names.edge_policy, "CLOUD_ARMOR_EDGE"),
            ("backend", names.backend_policy, "CLOUD_ARMOR"),
        ):
            found = self.get(
                "SecurityPoliciesClient",
                f"{role} security policy {policy_name}",
                "compute.securityPolicies.get",
                security_policy=policy_name,
            )
            if isinstance(found, Check):
                problems.append(found.detail)
                continue
            problems.extend(_policy_problems(found, policy_name, policy_type, expected))
            allow_rules = sum(1 for rule in found.rules if rule.action == "allow")
            summaries.append(f"{policy_name} ({plural(allow_rules, 'allow rule')})")
        service = self.get(
            "BackendServicesClient",
            f"backend service {names.backend_service}",
            "compute.backendServices.get",
            backend_service=names.backend_service,
        )
        if isinstance(service, Check):
            problems.append(service.detail)
        else:
            problems.extend(_service_problems(service, names))
        if problems:
            return Check("security_policies", "fail", "; ".join(problems), _DRIFT_FIX)
        return Check(
            "security_policies",
            "ok",
            f"{' and '.join(summaries)} hold the config's {plural(len(expected), 'range')} and deny everything else; "
            f"{names.backend_service} uses both, CDN enabled",
        )


def _policy_problems(policy: Any, name: str, policy_type: str, expected: set[str]) -> list[str]:
    """What in a live security policy differs from what the module deploys for the config."""
    problems: list[str] = []
    if policy.type_ and policy.type_ != policy_type:
        problems.append(f"{name} is of type {policy.type_}, not {policy_type}")
    live: set[str] = set()
    default = None
    for rule in policy.rules:
        if rule.priority == DEFAULT_RULE_PRIORITY:
            default = rule
            continue
        if rule.action != "allow":
            continue
        if rule.preview:
            problems.append(f"{name}: allow rule {rule.priority} is in preview mode")
        ranges = list(rule.match.config.src_ip_ranges)
        if not ranges:
            problems.append(f"{name}: allow rule {rule.priority} matches by expression, not an IP list")
        live.update(_canonical(cidr) for cidr in ranges)
    extra, missing = live - expected, expected - live
    if extra:
        problems.append(f"{name} allows {plural(len(extra), 'range')} not in the config: {_listed(extra)}")
    if missing:
        problems.append(f"{name} lacks {plural(len(missing), 'range')} of the config: {_listed(missing)}")
    if default is None:
        problems.append(f"{name} has no default rule (priority {DEFAULT_RULE_PRIORITY})")
    elif not str(default.action).startswith("deny"):
        problems.append(f"{name}: the default rule's action is {default.action!r}, not deny: everyone is let in")
    elif default.preview:
        problems.append(f"{name}: the default deny rule is in preview mode: everyone is let in")
    return problems


def _service_problems(service: Any, names: ResourceNames) -> list[str]:
    """What in the live backend service differs from what the module deploys: its policies and Cloud CDN."""
    problems: list[str] = []
    edge = _last_segment(service.edge_security_policy) if service.edge_security_policy else None
    backend = _last_segment(service.security_policy) if service.security_policy else None
    if edge != names.edge_policy:
        problems.append(
            f"{names.backend_service} has "
            + (f"edge security policy {edge}" if edge else "no edge security policy")
            + f" (expected {names.edge_policy}): cached objects are served to anyone"
        )
    if backend != names.backend_policy:
        problems.append(
            f"{names.backend_service} has "
            + (f"security policy {backend}" if backend else "no security policy")
            + f" (expected {names.backend_policy})"
        )
    if not service.enable_c_d_n:
        problems.append(f"{names.backend_service} has Cloud CDN disabled")
    return problems


def _last_segment(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _canonical(cidr: str) -> str:
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except ValueError:
        return cidr.strip()  # "*" or anything else: shown as it is


def _listed(ranges: Iterable[str], limit: int = 8) -> str:
    items = sorted(ranges)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
