"""The checks in order (`run`): the config first, then each later check on a worker thread with a time limit
of its own, within the run's budget; a check that depends on one that could not run or did not answer is
skipped rather than waiting again."""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from iac.doctor.compute import Compute, ComputeUnavailable
from iac.doctor.dns import check_dns
from iac.doctor.findings import Findings
from iac.doctor.https import ConnectTo
from iac.doctor.report import CHECKS, Check, DoctorReport
from iac.doctor.serving import check_cors, check_https, https_not_run
from iac.errors import ConfigError, IacError
from iac.gcp.names import ResourceNames
from iac.untrusted import DOCTOR_BUDGET, DOCTOR_REQUEST_TIMEOUT
from iac.words import plural

if TYPE_CHECKING:
    from iac.config.load import LoadedConfig

Progress = Callable[[str], None]

REQUEST_TIMEOUT = DOCTOR_REQUEST_TIMEOUT  # seconds for one request (Compute API, DNS, bucket listing, HTTPS)
BUDGET = DOCTOR_BUDGET  # seconds for the whole run: each check gets at most what is left

_COMPUTE_CHECKS = ("address", "certificate", "security_policies")


class CheckRun:
    """One run's outcomes so far; runs each check within its time limit and the run's budget."""

    def __init__(self, progress: Progress, timeout: float, budget: float) -> None:
        self.progress = progress
        self.request_timeout = timeout
        self.deadline = time.monotonic() + budget
        self.budget = budget
        self.results: dict[str, Check] = {}
        self.compute_down: str | None = None  # why the Compute API cannot be used

    def timeout(self) -> float:
        """A request's timeout: REQUEST_TIMEOUT, or less when the run's budget is nearly used."""
        return max(0.5, min(self.request_timeout, self.deadline - time.monotonic()))

    def run(self, name: str, doing: str, func: Callable[[], Check], requests: int = 1) -> Check:
        """Run one check on a worker thread with a time limit, turning errors into a `fail`."""
        remaining = self.deadline - time.monotonic()
        if remaining < 0.5:
            check = Check(name, "skip", f"not run: the run's {self.budget:.0f} s budget is used up")
            return self.record(check)
        self.progress(f"doctor: {name}: {doing}")
        limit = min(requests * self.request_timeout + 2.0, remaining)
        box: list[Check | BaseException] = []

        def work() -> None:
            try:
                box.append(func())
            except BaseException as exc:
                box.append(exc)

        worker = threading.Thread(target=work, name=f"iac-doctor-{name}", daemon=True)
        worker.start()
        worker.join(limit)
        if not box:
            # The thread is left behind (a daemon: it never keeps iac alive); its late result is ignored.
            check = Check(name, "fail", f"no result within {limit:.0f} s", "check the network path and run again")
            if name in _COMPUTE_CHECKS:
                self.compute_down = f"the Compute API did not answer the {name} check within {limit:.0f} s"
            return self.record(check)
        outcome = box[0]
        if isinstance(outcome, Check):
            return self.record(outcome)
        if isinstance(outcome, ComputeUnavailable):
            self.compute_down = f"{outcome.why} (found by the {name} check)"
            return self.record(Check(name, "fail", str(outcome), outcome.fix))
        if isinstance(outcome, IacError):
            return self.record(Check(name, "fail", str(outcome)))
        if isinstance(outcome, Exception):
            return self.record(Check(name, "fail", f"unexpected error: {type(outcome).__name__}: {outcome}"))
        raise outcome

    def record(self, check: Check) -> Check:
        self.results[check.name] = check
        return check

    def skip(self, name: str, why: str, fix: str | None = None) -> Check:
        return self.record(Check(name, "skip", why, fix))

    def checks(self) -> tuple[Check, ...]:
        return tuple(self.results[name] for name in CHECKS if name in self.results)


def check_config(path: Path, progress: Progress) -> tuple[Check, LoadedConfig | None]:
    """The config check, and the config when it is valid."""
    from iac.config.load import load_config

    progress(f"doctor: config: loading {path}")
    if not path.exists():
        fix = f"create one with `iac init {path}`, or name the config with -c FILE (or IAC_CONFIG)"
        return Check("config", "fail", f"{path}: no such config file", fix), None
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        shown = "; ".join(exc.problems[:3]) + (f" (and {len(exc.problems) - 3} more)" if len(exc.problems) > 3 else "")
        return Check("config", "fail", shown, f"fix the config; `iac validate -c {path}` lists every problem"), None
    config = loaded.config
    detail = (
        f"{path}: valid (project {config.project}, domain {config.domain}, "
        f"{plural(len(loaded.allowlist.ranges), 'allowlist range')})"
    )
    return Check("config", "ok", detail), loaded


def run(
    config: Path,
    *,
    object_name: str | None = None,
    connect_to: ConnectTo | None = None,
    progress: Progress = lambda message: None,
    timeout: float = REQUEST_TIMEOUT,
    budget: float = BUDGET,
) -> DoctorReport:
    """Run every check in order and return their outcomes. Raises IacError only for a --connect-to that does
    not name the config's domain; everything else is a check's outcome."""
    doctor = CheckRun(progress, timeout, budget)
    check, loaded = check_config(config, progress)
    doctor.record(check)
    if loaded is None:
        for name in CHECKS[1:]:
            doctor.skip(name, "not run: the config check failed, and every check needs the config")
        return DoctorReport(doctor.checks())
    names = ResourceNames.of(loaded.config.name)
    findings = Findings(loaded, names, object_name, connect_to, doctor.timeout)
    compute = Compute(findings)
    domain = loaded.config.domain
    if connect_to is not None:
        connect_to.check_applies(domain, 443)
    # Imported here, on this thread: a check abandoned at its time limit never holds the import lock.
    importlib.import_module("google.cloud.compute_v1")

    doctor.run("address", f"globalAddresses.get {names.address}", compute.check_address)

    if connect_to is not None:
        doctor.skip("dns", f"--connect-to given: {domain} is not resolved, requests go to {findings.connect_target()}")
    else:
        doctor.run("dns", f"resolving {domain}", lambda: check_dns(findings))

    if doctor.compute_down:
        doctor.skip("certificate", f"not run: {doctor.compute_down}")
    else:
        doctor.run("certificate", f"sslCertificates.get {names.certificate}", compute.check_certificate)

    if doctor.compute_down:
        doctor.skip("security_policies", f"not run: {doctor.compute_down}")
    else:
        doctor.run(
            "security_policies",
            f"securityPolicies.get {names.edge_policy}, {names.backend_policy}; "
            f"backendServices.get {names.backend_service}",
            compute.check_security_policies,
            requests=3,
        )

    what = f"--object {object_name}" if object_name is not None else "the first object of the bucket"
    blocked = https_not_run(findings)
    if blocked is not None:
        doctor.record(blocked)  # said as a skip, never announced as a request first
    else:
        doctor.run("https", f"GET https://{domain}/ ({what})", lambda: check_https(findings), requests=2)

    if findings.url_path is None:
        doctor.skip("cors", "not run: the https check requested no object, so there is no URL for a preflight")
    elif not findings.reached:
        doctor.skip("cors", "not run: the load balancer did not answer the https check")
    else:
        doctor.run("cors", f"OPTIONS https://{domain}{findings.url_path}", lambda: check_cors(findings))
    _check_encord(doctor, loaded)
    return DoctorReport(doctor.checks())


def _check_encord(doctor: CheckRun, loaded: LoadedConfig) -> None:
    """The encord check, when there is an integration to look for and a key to look with; skipped otherwise."""
    from iac.doctor.integration import check_integration
    from iac.manifest.encord_client import INSTALL, KEY_FILE_VARIABLE, KEY_VARIABLE, key_present

    settings = loaded.config.encord
    if settings is None or settings.integration is None:
        doctor.skip("encord", "not run: encord.integration is not set (`iac manifest register` reads it)")
        return
    if not key_present():
        doctor.skip(
            "encord",
            f"not run: no Encord key in {KEY_FILE_VARIABLE} or {KEY_VARIABLE}",
            f"set {KEY_FILE_VARIABLE} to your Ed25519 Encord key's file to check the integration",
        )
        return
    try:
        # Imported here, on this thread: a check abandoned at its time limit never holds the import lock.
        importlib.import_module("encord.user_client")
    except ImportError:
        doctor.skip("encord", "not run: Encord's SDK is not installed", INSTALL)
        return
    doctor.run(
        "encord",
        f"looking up the cloud integration {settings.integration!r}",
        lambda: check_integration(settings, doctor.timeout()),
        requests=2,
    )
