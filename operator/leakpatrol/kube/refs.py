"""`ObjectRef`: the few fields that name one Kubernetes object, for Events and ownerReferences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str | None = None

    @classmethod
    def of(cls, obj: dict[str, Any], *, api_version: str | None = None, kind: str | None = None) -> ObjectRef:
        """From a full object. List items come without apiVersion/kind: pass them then."""
        md = obj["metadata"]
        return cls(
            api_version=api_version or obj["apiVersion"],
            kind=kind or obj["kind"],
            name=md["name"],
            uid=md["uid"],
            namespace=md.get("namespace"),
        )

    def involved_object(self) -> dict[str, Any]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid}
        return ref | ({"namespace": self.namespace} if self.namespace else {})

    def owner_reference(self) -> dict[str, Any]:
        # No blockOwnerDeletion: setting it needs `update` on the owner's finalizers subresource
        # (OwnerReferencesPermissionEnforcement), and background GC deletes dependents anyway.
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
        }
