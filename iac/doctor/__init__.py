"""`iac doctor`: is the deployment serving Encord? Checks the config, the load balancer's resources (Compute
API), DNS, an HTTPS download, a CORS preflight and the Encord integration, each reported as ok, warn, fail or
skip with a fix.

Every network step has a timeout and no retries, each check runs with a time limit of its own, and the whole
run has a budget (`BUDGET`), so an unresponsive endpoint costs seconds, never minutes; checks that depend on
an endpoint that did not answer are skipped rather than waiting again.

`google.cloud.compute_v1` and `google.cloud.storage` are imported only inside the functions that call them.
Imports the foundations, `iac.config`, `iac.allowlist`, `iac.gcp` and `iac.manifest` (the Encord client).

The public entry: `run() -> DoctorReport` of `Check`s, with a parsed `--connect-to` (`ConnectTo`).
"""

from iac.doctor.checks import BUDGET, REQUEST_TIMEOUT, run
from iac.doctor.https import ConnectTo
from iac.doctor.report import Check, DoctorReport

__all__ = ["BUDGET", "REQUEST_TIMEOUT", "Check", "ConnectTo", "DoctorReport", "run"]
