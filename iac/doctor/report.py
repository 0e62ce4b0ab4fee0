"""What `iac doctor` reports: each check's outcome (`Check`), in the order the checks run (`CHECKS`), and the
run's `DoctorReport`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["ok", "warn", "fail", "skip"]

CHECKS = ("config", "address", "dns", "certificate", "security_policies", "https", "cors", "encord")


@dataclass(frozen=True)
class Check:
    """One check's outcome: `status` ok, warn, fail or skip; `detail` one line; `fix` what to do, if anything."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class DoctorReport:
    """Every check, in the order they ran. `ok`: no check failed (warnings and skips are not failures)."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def counts(self) -> dict[Status, int]:
        counts: dict[Status, int] = {"ok": 0, "warn": 0, "fail": 0, "skip": 0}
        for check in self.checks:
            counts[check.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [check.to_json() for check in self.checks]}
