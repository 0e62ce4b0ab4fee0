"""Object URLs on the Direct Access domain: the one generate writes, and what is wrong with one given."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from iac.manifest.problems import quoted

# Path segments every URL library and browser resolves away (RFC 3986 5.2.4; the WHATWG URL standard also
# takes %2e for a dot), so a URL holding one names another file.
_DOT_SEGMENTS = frozenset({".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"})


def object_url(domain: str, name: str) -> str:
    """https://<domain>/<name>, every byte of the name outside unreserved characters and "/" percent-encoded.

    A name with a '.' or '..' segment has no URL (see `unaddressable`): percent-encoding the dots does not
    help, as browsers read %2e as a dot.
    """
    return f"https://{domain}/{quote(name, safe='/-._~')}"


def unaddressable(name: str) -> str | None:
    """Why no URL can name the object `name` (a '.' or '..' path segment), or None: generate skips it."""
    if not any(segment in (".", "..") for segment in name.split("/")):
        return None
    return (
        f"its name has a '.' or '..' path segment: browsers and URL libraries resolve it, so its URL would name "
        f"/{_resolved(name)} instead (rename the object)"
    )


def _resolved(path: str) -> str:
    """`path` (without its leading /) with its dot segments resolved, as a URL library does."""
    kept: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        lowered = segment.lower()
        if lowered in ("..", ".%2e", "%2e.", "%2e%2e"):
            if kept:
                kept.pop()
        elif lowered not in (".", "%2e"):
            kept.append(segment)
            continue
        if index == len(segments) - 1:
            kept.append("")  # a trailing dot segment leaves the path ending in /
    return "/".join(kept)


def _dot_segment_problem(url: str, path: str) -> str | None:
    segments = path.split("/")[1:]
    found = next((segment for segment in segments if segment.lower() in _DOT_SEGMENTS), None)
    if found is None:
        return None
    return (
        f"the object URL {quoted(url)} has a '.' or '..' path segment ({quoted(found)}): browsers and URL libraries "
        f"resolve it, so it fetches /{_resolved(path[1:])} instead; percent-encoding the dots does not help: rename "
        "the object"
    )


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
    if scheme in ("http", "https") and host:
        dots = _dot_segment_problem(url, urlsplit(url).path)
        if dots is not None:
            found.append(dots)
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
