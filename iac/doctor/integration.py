"""The encord check: the cloud integration `iac manifest register` names (`encord.integration`) is visible to the
Encord key (ENCORD_SSH_KEY_FILE or ENCORD_SSH_KEY), at `encord.domain` or IAC_ENCORD_DOMAIN."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iac.doctor.report import Check
from iac.errors import IacError
from iac.manifest.encord_client import Encord, domain

if TYPE_CHECKING:
    from iac.config.models import EncordConfig


def check_integration(settings: EncordConfig, timeout: float) -> Check:
    """ok when Encord lists the integration titled `settings.integration` for the key; fail, with the titles
    the key can see, when not."""
    title = settings.integration
    assert title is not None
    try:
        api = domain(settings.domain)
        found = Encord(api, timeout=max(1, int(timeout))).integration(title)
    except IacError as exc:
        return Check(
            "encord",
            "fail",
            str(exc),
            "share the Direct Access integration with the key's user in Encord, or correct encord.integration "
            "(or encord.domain, the deployment the key is registered with)",
        )
    return Check("encord", "ok", f"the cloud integration {title!r} is visible to the key at {api} (id {found})")
