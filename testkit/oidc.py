"""A real OpenID Connect provider for the sign-in tests: ``oidc-provider-mock`` (0.3.x: the
0.4 line needs Python 3.12) run as its own server process on a free loopback port, and the
``[auth]`` secrets that point a Chat Lab replica at it.

The provider accepts any client id and secret; its sign-in form asks for a subject
(``input[name="sub"]``, then "Authorize"); ``set_user`` gives a subject its claims (the
e-mail address Chat Lab knows a user by). Sign-out goes through its "End session" page.
Use one host string everywhere (``127.0.0.1``): Streamlit's login cookie is set on the host
of ``redirect_uri``, and a browser on another host name never sends it back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testkit.app_server import free_port

__all__ = ["oidc_provider", "set_user", "write_auth_secrets"]


@contextmanager
def oidc_provider(timeout_s: float = 60) -> Iterator[str]:
    """The provider's base URL (``http://127.0.0.1:PORT``) while the block runs."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cli = Path(sys.executable).with_name("oidc-provider-mock")
    proc = subprocess.Popen([str(cli), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout_s  # a hang guard
        while True:
            try:
                with urllib.request.urlopen(f"{url}/.well-known/openid-configuration",
                                            timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("oidc-provider-mock did not start: "
                                       + (proc.stderr.read() if proc.stderr else b"")
                                       .decode(errors="replace")[-2000:]) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def set_user(provider: str, sub: str, **claims: str) -> None:
    """Give ``sub`` these claims (``email=...``, ``name=...``): ``PUT /users/{sub}``."""
    request = urllib.request.Request(f"{provider}/users/{sub}", data=json.dumps(claims).encode(),
                                     method="PUT", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204, response.status


def write_auth_secrets(path: Path, provider: str, app_port: int) -> Path:
    """A ``secrets.toml`` with the ``[auth]`` section of a replica on ``app_port``; every
    replica of one deployment shares the cookie secret, as behind a load balancer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
        'cookie_secret = "chatlab-tests-cookie-secret-of-32-bytes-or-more"\n'
        'client_id = "chatlab-tests"\n'
        'client_secret = "chatlab-tests-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n')
    return path
