"""The admin's gate of a `Remediator`: does the cluster admin enable remediation in the policy's
namespace (admin.py)? Where not, an action the rails allow is only reported as what would have
been done."""

from __future__ import annotations

from leakpatrol.controller.ports import Cluster
from leakpatrol.controller.remediation.admin import AdminPolicy
from leakpatrol.core import LeakpatrolError, Obj


class Gate:
    cluster: Cluster
    admin: AdminPolicy
    namespace: str

    async def _namespace(self) -> tuple[Obj | None, str | None]:
        """The policy's Namespace, and why remediation may not act there (None: it may). A
        namespace that cannot be read is not enabled."""
        try:
            obj = await self.cluster.read_namespace(self.namespace)
        except LeakpatrolError as exc:
            return None, self.admin.not_enabled(self.namespace, None, f"{exc.reason}: {exc}")
        return obj, self.admin.not_enabled(self.namespace, obj)
