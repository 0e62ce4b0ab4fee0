"""Object URLs on the Direct Access domain: the one generate writes, and what is wrong with one given."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from iac.manifest.problems import quoted


def object_url(domain: str, name: str) -> str:
    """https://<domain>/<name>, every byte of the name outside unreserved characters and "/" percent-encoded."""
    return f"https://{domain}/{quote(name, safe='/-._~')}"


def url_problems(url: str, domain: str | None) -> list[str]:
    """What is wrong with one object URL (none: []): whitespace, not http(s), not on `domain`."""
    found: list[str] = []
    space = re.search(r"\s", url)
    if space:
        name = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a line break"}.get(
            space.group(), f"the whitespace character U+{ord(space.group()):04X}"
        )
        found.append(
            f"the object URL {quoted(url)} contains whitespace ({name} at character {space.start() + 1}); "
            "Encord rejects object URLs with whitespace: percent-encode it (a space is %20)"
        )
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), (parts.hostname or ""), parts.port
    except ValueError:
        scheme, host, port = "", "", None
    placeholder = bool(re.search(r"<[^>]*>", url))
    if domain:
        expected = f"https://{domain}/"
        if scheme == "https" and host == domain and port is None and parts.path not in ("", "/"):
            return found
        if placeholder:
            hint = "; it looks like a placeholder: put the real URL"
        elif scheme == "http" and host == domain:
            hint = "; use https"
        elif host.endswith(("storage.googleapis.com", "storage.cloud.google.com")):
            hint = "; this points at the bucket directly: Direct Access files are fetched through the domain"
        elif scheme == "https" and host == domain and port is None:
            hint = "; it must name a file after the domain"
        else:
            hint = ""
        found.append(f"the object URL {quoted(url)} is not on the Direct Access domain: expected {expected}...{hint}")
    elif scheme not in ("http", "https") or not host:
        if placeholder:
            what = "looks like a placeholder, not an http(s) URL: put the real https URL of the file"
        elif scheme in ("gs", "s3"):
            what = f"is not an http(s) URL: the browser cannot fetch {scheme}:// URLs; use the https URL of the object"
        else:
            what = "is not an http(s) URL: give the full URL the browser fetches, like https://HOST/path/file"
        found.append(f"the object URL {quoted(url)} {what}")
    return found
