"""The CORS providers: one interface (`iac.cors.provider.Provider`), one registry, checks made once for all."""

from __future__ import annotations

from typing import get_args

import pytest

from iac.config.cors import CORS_PROVIDERS, CorsRule, CorsTarget
from iac.config.schema import fields_of
from iac.cors.provider import Provider, check_methods
from iac.cors.targets import PROVIDERS
from iac.errors import IacError


def test_every_registered_provider_satisfies_the_protocol() -> None:
    # The registry's names are the config's `provider:` tags, in the order messages list them.
    tags = [get_args(fields_of(model)["provider"])[0] for model in get_args(get_args(CorsTarget)[0])]
    assert list(PROVIDERS) == tags == list(CORS_PROVIDERS) == ["gcp", "aws", "azure", "otc"]
    for name, provider in PROVIDERS.items():
        assert isinstance(provider, Provider), name
        assert name == provider.NAME
        assert provider.CREDENTIALS.startswith(("set ", "Set ")), name
        assert isinstance(provider.METHODS, frozenset) and {"GET", "HEAD"} <= provider.METHODS, name
        assert isinstance(provider.MAX_RULES, int) and provider.MAX_RULES > 0, name
        assert isinstance(provider.Store, type), name
        assert all(callable(getattr(provider.Store, member, None)) for member in ("read", "write")), name


def test_a_method_the_provider_cannot_set_is_refused() -> None:
    rule = CorsRule(origins=("https://app.encord.com",), methods=("GET", "PATCH"))
    check_methods("gcp", PROVIDERS["gcp"].METHODS, rule)
    with pytest.raises(IacError, match=r"cors.targets \(aws\): PATCH not supported by the provider \(it accepts "):
        check_methods("aws", PROVIDERS["aws"].METHODS, rule)


def test_an_unknown_provider_is_refused_with_the_registrys_names(cli, tmp_path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(
        "project: my-gcp-project\ndomain: da.acme.com\nbucket: {name: encord-data, location: EU}\n"
        "allowlist: [39.42.20.11/32]\ncors:\n  targets: [{provider: aws, bucket: acme-s3-data, region: eu-west-2}]\n"
    )
    result = cli("cors", "check", "-c", config, "--provider", "s3")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: --provider 's3': use one of {', '.join(CORS_PROVIDERS)}"
