"""The wire: a scripted origin server and a raw client that record exactly what crossed it.

- `Wire().origin(responses)` opens a scripted HTTP/1.1 origin for a client scenario;
  `handle.recording()` gives what reached it (SCENARIO.md "What the origin records").
- `Wire().exchange(requests, addresses, timeout_s)` is the raw client for server
  scenarios (SCENARIO.md "What the raw client records").

Origins run on an asyncio loop (a background thread's, or the loop a target waits on);
the raw client on the caller's thread, with non-blocking sockets and poll(). Messages are
parsed and written here rather than through h11: the recording must keep exact header case and order,
Latin-1 values, the raw head bytes, trailers, 1xx heads, reason-less status lines and
framing that h11 would normalise or reject (h11 serves as the independent parser that
the tests check these bytes against).
"""

from .background import Wire
from .codec import tag_bytes, to_bytes
from .origin import OriginHandle

__all__ = ["OriginHandle", "Wire", "tag_bytes", "to_bytes"]
