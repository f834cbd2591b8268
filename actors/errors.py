"""The client-visible error family; defined with the wire schema, in `actors.wire.errors`."""

from .wire.errors import *  # noqa: F403  (every name of the family, so `from actors.errors import X` keeps working)
