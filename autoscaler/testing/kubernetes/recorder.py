"""What each request to the API double asks of RBAC: its API group, resource and verb.

The double records one :class:`Request` per request it reads (``KubeApi.requests``), whatever
its route, so a test can derive the Role a recorded run needs and compare it with the shipped one.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit


class Request(NamedTuple):
    """One request in RBAC terms: ``group`` is ``""`` for the core API; ``resource`` carries a
    subresource as ``pods/log``."""

    group: str
    resource: str
    verb: str
    namespace: str | None
    name: str | None


def rbac_request(method: str, target: str) -> Request | None:
    """The RBAC view of ``method target`` (``GET /api/v1/namespaces/ci/pods?watch=true``), as the
    API server's authorizer sees it; None for a non-resource path (``/version``, ``/healthz``)."""
    url = urlsplit(target)
    query = parse_qs(url.query)
    parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None
    watching = query.get("watch", [""])[-1] in ("true", "1")
    if rest[:1] == ["watch"]:  # the old /watch/ prefix
        watching, rest = True, rest[1:]
    namespace = None
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource, name = rest[0], rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    return Request(group, resource, _verb(method.upper(), name, watching), namespace, name)


def _verb(method: str, name: str | None, watching: bool) -> str:
    if method in ("GET", "HEAD"):
        if watching:
            return "watch"
        return "get" if name is not None else "list"
    if method == "DELETE" and name is None:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())
