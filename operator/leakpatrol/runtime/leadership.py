"""Who scans without `--sharding`: every replica runs kopf (so each watches and is ready), only the
holder of one Lease scans.

Why the scan daemons wait for leadership instead of kopf's own peering: kopf's peering pauses a
whole operator when a peer of higher priority appears and needs a cluster-wide KopfPeering CRD; a
Lease is the built-in, namespaced mechanism every controller uses, needs only get/create/update on
one object in our own namespace, and the standby keeps its watches warm, so a take-over is one pass.

`Leadership` is the shared `LeaseLoop` (`leakpatrol.runtime.lease_loop`: renewing, the renew
deadline, backing off, giving up on shutdown) on that one Lease, read with a GET; a replica scans
as soon as it holds it. A leader that has not renewed for `renew_deadline` steps down by itself
(before the Lease can expire for the others), so two replicas never both believe they lead for
longer than a retry. With leader election off (`Leadership.always()`) this process leads from the
start.

A pass already running when the Lease is lost finishes; the daemons check `scans` before each pass
and wake on its loss. What such a late pass writes is safe: Events are computed against the
policy's status (a transition the new leader also sees is not posted twice) and checkpoint writes
carry a resourceVersion precondition.
"""

from __future__ import annotations

import logging

from leakpatrol.core import Obj
from leakpatrol.kube.leadership import LeaseMove
from leakpatrol.kube.leases import get_lease
from leakpatrol.runtime.lease_loop import LeaseLoop

log = logging.getLogger(__name__)


class Leadership(LeaseLoop):
    @classmethod
    def always(cls) -> Leadership:
        """Leader election off: one replica by contract, leading from the start."""
        leadership = cls(None, None)
        leadership.scanning.set()
        return leadership

    async def _read(self) -> Obj | None:
        api, c = self._lease()
        return await get_lease(api, c.namespace, self.lease_name)

    async def _renew(self) -> bool:
        """Held once renewed, acquired or taken over; a Lease another holds alive is waited for."""
        move = await self._hold(await self._read())
        if move is not None and move is not LeaseMove.RENEW:
            log.info("%s: %s as %s", self.describe, move, self._lease()[1].identity)
        return move is not None

    def _changed(self, scans: bool) -> None:
        if not scans:  # a gain was said by _renew, with the move that made it
            log.warning("lost the lease: scanning stops until it is won again")
