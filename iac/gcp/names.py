"""The names the gcp-direct-access module gives its resources, every one `<name>-...` from the config.

Python needs some of them to call Google without reading the Terraform state (`iac invalidate`,
`iac doctor`). This is the one place they are written down; tests/test_architecture.py pins each one
against the module's own `name = "${var.name}-..."`, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

# Suffix of each resource's name after the deployment's `name`, by what the resource is.
SUFFIXES = {
    "address": "-ip",
    "certificate": "-cert",
    "url_map": "-url-map",
    "edge_policy": "-edge-policy",
    "backend_policy": "-backend-policy",
    "backend_service": "-backend",
    "reader": "-reader",
}


@dataclass(frozen=True)
class ResourceNames:
    """The resource names of one deployment."""

    address: str
    certificate: str
    url_map: str
    edge_policy: str
    backend_policy: str
    backend_service: str
    reader: str

    @classmethod
    def of(cls, name: str) -> ResourceNames:
        return cls(**{field: name + suffix for field, suffix in SUFFIXES.items()})
