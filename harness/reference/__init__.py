"""A Python model of node:http built on fetch(), as Cloudflare Workers do it.

Use `harness.reference.http` the way Node code uses `node:http` (names in snake_case).
This package imports nothing from the rest of the harness.
"""

from .agent import Agent, global_agent
from .client import ClientRequest, get, request
from .errors import UNDEFINED, AbortError, NodeError
from .fetch import Headers, Request, Response, fetch
from .incoming import IncomingMessage
from .limitations import LIMITATIONS
from .signals import AbortController, AbortSignal

__all__ = [
    "LIMITATIONS",
    "UNDEFINED",
    "AbortController",
    "AbortError",
    "AbortSignal",
    "Agent",
    "ClientRequest",
    "Headers",
    "IncomingMessage",
    "NodeError",
    "Request",
    "Response",
    "fetch",
    "get",
    "global_agent",
    "request",
]
