"""What the checks of one run share: the loaded config and what the user asked for, the facts one check learns
for the later ones (the load balancer's address, whether the domain resolves, the object's URL), and a
request's timeout now."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iac.doctor.https import ConnectTo
from iac.gcp.names import ResourceNames

if TYPE_CHECKING:
    from iac.config.load import LoadedConfig


@dataclass
class Findings:
    """The run's config and facts. `timeout()`: a request's timeout, less when the run's budget is nearly used."""

    loaded: LoadedConfig
    names: ResourceNames
    object_name: str | None
    connect_to: ConnectTo | None
    timeout: Callable[[], float]
    address: str | None = None  # the load balancer's, from the address check
    resolves: bool | None = None  # the dns check's finding, None when not checked
    url_path: str | None = None  # of the object the https check downloads
    reached: bool = False  # the https check got an HTTP answer
    credentials_missing: bool = False  # a check found no Google credentials and said how to set them up

    def connect_target(self) -> str | None:
        """HOST:PORT that --connect-to sends the requests to, or None."""
        if self.connect_to is None:
            return None
        host, port = self.connect_to.target(self.loaded.config.domain, 443)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def via(self) -> str:
        """' (via HOST:PORT)' after a URL the requests reach through --connect-to, else ''."""
        target = self.connect_target()
        return f" (via {target})" if target else ""
