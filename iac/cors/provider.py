"""What a CORS provider is: the interface each provider module's `PROVIDER` object satisfies, the documents
`iac cors render` writes, and the messages every provider words alike.

A provider module (gcs, aws, azure, otc) keeps its SDK imports inside `Store`, so the registry
(`iac.cors.targets.PROVIDERS`) can hold every provider without `iac cors render` loading an SDK. The checks made
before any call (the methods a provider accepts, its rule limit) are made once, in `iac.cors.targets`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from iac.config.cors import CorsRule, cors_provider
from iac.cors.policy import Native
from iac.errors import IacError

# The config's target type of a provider (`AwsCorsTarget`, ...).
Target = TypeVar("Target", contravariant=True)


class CorsStore(Protocol):
    """One target's live CORS rules: a bucket's, or an Azure account's Blob service's."""

    @property
    def description(self) -> str:
        """How messages name the target, e.g. `s3://bucket (eu-west-2)`."""
        ...

    def read(self) -> list[Native]:
        """The rules in place, in the provider's order; [] without any."""
        ...

    def write(self, rules: list[Native]) -> None:
        """Replace the whole configuration with `rules` ([] removes it)."""
        ...


@dataclass(frozen=True)
class Document:
    """One file `iac cors render` writes: its name in the output directory, its bytes, and what to do with it
    (`next_step`, with `{path}` where the file's path goes)."""

    name: str
    content: bytes
    next_step: str


@runtime_checkable
class Provider(Protocol[Target]):
    """A storage provider iac sets CORS on."""

    @property
    def NAME(self) -> str:
        """The name a target's `provider:` gives (the config's tag of its target type)."""
        ...

    @property
    def CREDENTIALS(self) -> str:
        """What to set so iac can reach the provider, for the message of a target it cannot reach."""
        ...

    @property
    def METHODS(self) -> frozenset[str]:
        """The methods a rule may allow there."""
        ...

    @property
    def MAX_RULES(self) -> int:
        """The most rules a bucket (account) may hold."""
        ...

    @property
    def Store(self) -> Callable[[Target], CorsStore]:
        """Opens a target's live configuration (importing the SDK; raises IacError when that fails)."""
        ...

    def native(self, rule: CorsRule) -> Native:
        """`rule` in the provider's shape."""
        ...

    def parse(self, native: Native) -> CorsRule:
        """A rule in the provider's shape back in provider-neutral terms."""
        ...

    def describe(self, target: Target) -> str:
        """How messages name the target, e.g. `s3://bucket (eu-west-2)`, without opening it."""
        ...

    def documents(self, target: Target, rule: CorsRule) -> list[Document]:
        """What `iac cors render` writes for `target` setting `rule`."""
        ...


@dataclass(frozen=True)
class ProviderModule(Generic[Target]):
    """A provider module's constants and functions as one `Provider` object, for the registry. NAME is the tag of
    the module's config target type (`of`), so a provider is named in one place: the config schema."""

    of: type[Any]
    CREDENTIALS: str
    METHODS: frozenset[str]
    MAX_RULES: int
    Store: Callable[[Target], CorsStore]
    native: Callable[[CorsRule], Native]
    parse: Callable[[Native], CorsRule]
    describe: Callable[[Target], str]
    documents: Callable[[Target, CorsRule], list[Document]]

    @property
    def NAME(self) -> str:
        return cors_provider(self.of)


def check_methods(name: str, methods: frozenset[str], rule: CorsRule) -> None:
    """Refuse a rule with a method provider `name` cannot set (`methods`: its METHODS), e.g. PATCH on S3, which
    takes only GET, PUT, HEAD, POST and DELETE. Made once, by `iac.cors.targets`, before any call."""
    unsupported = [method for method in rule.methods if method not in methods]
    if unsupported:
        raise IacError(
            f"cors.targets ({name}): {', '.join(unsupported)} not supported by the provider "
            f"(it accepts {', '.join(sorted(methods))})"
        )


def no_credentials(what: str, credentials: str) -> IacError:
    """The error for a target iac finds no credentials for: what failed, and what to set (`credentials`, the
    provider's CREDENTIALS)."""
    return IacError(f"{what}: no credentials: {credentials}")


def missing_sdk(what: str, package: str, extra: str, exc: ImportError) -> IacError:
    """The error for a provider SDK that is not installed, with the extra of this distribution that brings it."""
    return IacError(
        f"{what} needs the {package} package: install iac with its {extra!r} extra "
        f"(`pip install '.[{extra}]'` in a checkout of iac, or `pip install {package}`) ({exc})"
    )
