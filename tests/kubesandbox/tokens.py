"""Bearer tokens: the admin's (system:masters) and ServiceAccount tokens from the TokenRequest API.

A ServiceAccount token is a JWT as the real API server issues (claims `iss`, `sub`, `aud`, `exp`,
`iat`, `nbf` and `kubernetes.io: {namespace, serviceaccount: {name, uid}}`), signed here with
HMAC-SHA256 under a key made at start (the real server signs with RS256; a client never checks).
It is valid while unexpired AND while the ServiceAccount it names exists with the same uid, so a
deleted (or deleted and recreated) ServiceAccount's tokens stop working, as bound tokens do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ISSUER = "https://kubernetes.default.svc.cluster.local"
AUDIENCE = ISSUER
DEFAULT_EXPIRATION = 3600  # TokenRequest's default expirationSeconds
MIN_EXPIRATION = 600  # the API server refuses shorter requests


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    uid: str = ""

    @property
    def is_admin(self) -> bool:
        return "system:masters" in self.groups


ADMIN = User("kubernetes-admin", ("kubeadm:cluster-admins", "system:masters", "system:authenticated"))


def service_account_user(namespace: str, name: str, uid: str = "") -> User:
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")
    return User(f"system:serviceaccount:{namespace}:{name}", groups, uid)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# namespace, name -> the ServiceAccount's uid, or None when it does not exist (a store lookup).
ServiceAccountUid = Callable[[str, str], str | None]


class Tokens:
    def __init__(self, service_account_uid: ServiceAccountUid) -> None:
        self.admin_token = secrets.token_urlsafe(32)
        self._key = secrets.token_bytes(32)
        self._uid_of = service_account_uid

    def issue(
        self, namespace: str, name: str, uid: str, expiration_seconds: int = DEFAULT_EXPIRATION
    ) -> tuple[str, int]:
        """A signed token for the ServiceAccount and its expiry (Unix seconds)."""
        now = int(time.time())
        exp = now + expiration_seconds
        claims: dict[str, Any] = {
            "aud": [AUDIENCE],
            "exp": exp,
            "iat": now,
            "nbf": now,
            "iss": ISSUER,
            "jti": secrets.token_hex(16),
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{header}.{payload}.{self._sign(header, payload)}", exp

    def _sign(self, header: str, payload: str) -> str:
        return _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())

    def authenticate(self, token: str) -> User | None:
        """The user a bearer token stands for, or None (unknown, forged, expired, SA gone)."""
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return ADMIN
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(self._sign(parts[0], parts[1]), parts[2]):
            return None
        try:
            claims = json.loads(_unb64(parts[1]))
            k8s = claims["kubernetes.io"]
            namespace, account = k8s["namespace"], k8s["serviceaccount"]
            name, uid = account["name"], account["uid"]
            expired = int(claims["exp"]) <= time.time()
        except (ValueError, KeyError, TypeError):
            return None
        if expired or self._uid_of(namespace, name) != uid:
            return None
        return service_account_user(namespace, name, uid)
