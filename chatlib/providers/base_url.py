"""Why a base URL cannot be used, said before any request is made.

A base URL comes from a sidebar field, secrets, the environment or an API caller. Left to the
HTTP client, a malformed one fails late and misleadingly: a 2,000-character host name
surfaces as a "malformed stream event" (the IDNA codec's ``UnicodeError`` is a
``ValueError``), port 99999 as a generic parse error. ``base_url_problem`` names the actual
fault, so the UI can show it under the field and ``catalog.build_provider`` can refuse it.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

__all__ = ["base_url_problem", "MAX_URL_CHARS", "MAX_HOST_CHARS", "MAX_LABEL_CHARS"]

# Above what browsers, proxies and servers reliably accept; a base URL is much shorter.
MAX_URL_CHARS = 2048
# RFC 1035 as IDNA applies it: a name of at most 253 characters (without the root's dot),
# each dot-separated label at most 63.
MAX_HOST_CHARS = 253
MAX_LABEL_CHARS = 63
# Letters, digits and hyphens (RFC 1123); underscores too, as container and service names
# use them and resolvers accept them.
_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")


def base_url_problem(url: str) -> str | None:
    """What makes ``url`` unusable as an HTTP API's base URL, as one sentence, or ``None``.

    Surrounding whitespace is ignored (fields are stripped before use); checks run in an
    order that names the first fault a user would fix."""
    url = url.strip()
    if not url:
        return "No base URL: type one, such as http://localhost:8000/v1."
    if len(url) > MAX_URL_CHARS:
        return (f"The base URL is {len(url):,} characters long; at most {MAX_URL_CHARS:,} "
                "are accepted.")
    for position, char in enumerate(url, 1):
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
            kind = "a space" if char.isspace() else "a control character"
            return f"The base URL has {kind} at position {position}: remove it."
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1" (unclosed), "http://[name]" (not an IPv6 address)
        return ("The base URL does not parse: a host in [brackets] must be an IPv6 address, "
                "with its closing ].")
    if parts.scheme.lower() not in ("http", "https"):
        got = f" (not {parts.scheme}:)" if parts.scheme else ""
        return f"The base URL must start with http:// or https://{got}."
    hostport = parts.netloc.rpartition("@")[2]
    host, port = _split_port(hostport)
    if not host:
        return "The base URL has no host name: http://HOST:PORT/..."
    if port:  # "host:" with nothing after the colon means the default port (RFC 3986)
        if not port.isascii() or not port.isdigit():
            return f"The port must be a number from 1 to 65535 (got {port[:20]!r})."
        if not 1 <= int(port) <= 65535:
            return f"The port must be from 1 to 65535 (got {int(port)})."
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1].partition("%")[0])
        except ValueError:
            return f"{host} is not an IPv6 address."
        return None
    return _host_problem(host)


def _split_port(hostport: str) -> tuple[str, str | None]:
    """(host, port text or None), keeping an IPv6 literal's brackets on the host."""
    if hostport.startswith("["):
        end = hostport.find("]")
        rest = hostport[end + 1:]
        if rest.startswith(":"):
            return hostport[: end + 1], rest[1:]
        return hostport, None
    host, colon, port = hostport.partition(":")
    return host, port if colon else None


def _host_problem(host: str) -> str | None:
    """A host name's length and characters, in the ASCII form it is resolved in (IDNA)."""
    name = host[:-1] if host.endswith(".") else host  # a fully qualified name's root dot
    labels = name.split(".")
    if any(not label for label in labels):
        return "The host name has an empty part between dots."
    ascii_labels: list[str] = []
    for label in labels:
        if label.isascii():
            ascii_labels.append(label)
            continue
        try:
            ascii_labels.append("xn--" + label.encode("punycode").decode("ascii"))
        except UnicodeError:
            return "The host name has characters that cannot be encoded (IDNA)."
    length = len(".".join(ascii_labels))
    if length > MAX_HOST_CHARS:
        return (f"The host name is {length:,} characters long; a host name has at most "
                f"{MAX_HOST_CHARS}.")
    for label in ascii_labels:
        if len(label) > MAX_LABEL_CHARS:
            return (f"A part of the host name between dots is {len(label):,} characters long; "
                    f"each part has at most {MAX_LABEL_CHARS}.")
        if not _LABEL.match(label):
            return ("The host name may hold only letters, digits, hyphens and dots "
                    f"(got {host[:80]!r}).")
    return None
