"""The client-visible error family; defined with the wire schema, in `actors.wire.errors`.

One more lives here because it is the runtime's business as well as the
client's: OwnershipLost, a StorageUnavailable (9001 on the wire) that also
tells the runtime to stop the actor that met it.
"""

from .wire.errors import *  # noqa: F403  (every name of the family, so `from actors.errors import X` keeps working)
from .wire.errors import StorageUnavailable


class OwnershipLost(StorageUnavailable):  # type: ignore[misc, valid-type]  # the family's classes are made by a factory
    """A write of an actor that another node has claimed since: nothing of it was stored.

    The runtime stops the actor instead of restarting it (it would claim the
    actor back); the client sees 9001 and retries, and finds the actor on
    the node that owns it now.
    """
