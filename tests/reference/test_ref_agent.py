"""Agent: options kept and exposed, no effect on connections (declared no-op)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from ref_origin import Origin, Recorder, run, simple

from harness.reference import http
from harness.reference.agent import Agent, global_agent
from harness.reference.errors import NodeError


def test_new_agent_defaults() -> None:
    agent = Agent()
    assert agent.keep_alive is False and agent.keep_alive_msecs == 1000
    assert agent.max_sockets == math.inf and agent.max_total_sockets == math.inf
    assert agent.max_free_sockets == 256 and agent.scheduling == "lifo"
    assert agent.default_port == 80 and agent.protocol == "http:"
    assert agent.options == {"noDelay": True, "path": None}  # as Node's
    assert agent.sockets == {} and agent.free_sockets == {} and agent.requests == {}


def test_agent_keeps_options_in_either_spelling() -> None:
    camel = Agent({"keepAlive": True, "maxSockets": 1, "keepAliveMsecs": 500, "timeout": 100})
    snake = Agent(keep_alive=True, max_sockets=1, keep_alive_msecs=500, timeout=100)
    for agent in (camel, snake):
        assert agent.keep_alive is True and agent.max_sockets == 1
        assert agent.keep_alive_msecs == 500 and agent.timeout == 100
    # Node keeps the options object as given, keys as spelled.
    assert camel.options == {
        "keepAlive": True, "maxSockets": 1, "keepAliveMsecs": 500, "timeout": 100,
        "noDelay": True, "path": None,
    }  # fmt: skip
    assert snake.options["keep_alive"] is True and snake.options["max_sockets"] == 1


def test_global_agent_has_v20_defaults() -> None:
    assert http.global_agent is global_agent
    assert global_agent.keep_alive is True
    assert global_agent.options == {
        "keepAlive": True, "scheduling": "lifo", "timeout": 5000, "noDelay": True, "path": None,
    }  # fmt: skip
    assert global_agent.scheduling == "lifo" and global_agent.max_sockets == math.inf
    assert global_agent.max_free_sockets == 256 and global_agent.default_port == 80


def test_agent_validation() -> None:
    with pytest.raises(NodeError) as info:
        Agent({"scheduling": "random"})
    assert info.value.code == "ERR_INVALID_ARG_VALUE"
    with pytest.raises(NodeError) as info:
        Agent("nope")  # type: ignore[arg-type]
    assert info.value.code == "ERR_INVALID_ARG_TYPE"


def test_get_name() -> None:
    agent = Agent()
    assert agent.get_name({"host": "example.com", "port": 8080}) == "example.com:8080:"
    assert (
        agent.get_name(
            {"host": "example.com", "port": 8080, "localAddress": "1.2.3.4", "family": 4}
        )
        == "example.com:8080:1.2.3.4:4"
    )
    assert agent.get_name({}) == "localhost::"


def _requests_with(agent_option: Any, count: int = 2) -> tuple[list[Any], int, list[Any]]:
    async def main() -> tuple[list[Any], int, list[Any]]:
        async with Origin(simple(body=b"ok")) as o:
            recs = []
            reqs = []
            for _ in range(count):
                rec = Recorder()
                opts = {} if agent_option == "omit" else {"agent": agent_option}
                req = rec.attach(http.get(o.url, opts))
                await asyncio.wait_for(req.wait_closed(), 5)
                recs.append(rec)
                reqs.append(req)
            return recs, len(o.requests), reqs

    return run(main())


@pytest.mark.parametrize(
    "agent_option",
    ["omit", False, None, Agent(), Agent({"keepAlive": True, "maxSockets": 1})],
)
def test_every_agent_form_works_the_same(agent_option: Any) -> None:
    recs, served, reqs = _requests_with(agent_option)
    assert served == 2
    for rec in recs:
        assert rec.body == b"ok" and rec.res.status_code == 200
    for req in reqs:
        assert req.reused_socket is False  # fetch does not say; Node's flag stays false
        assert hasattr(req.agent, "add_request")


def test_agent_false_makes_a_fresh_agent() -> None:
    _, _, reqs = _requests_with(False, count=1)
    assert isinstance(reqs[0].agent, Agent) and reqs[0].agent is not global_agent


def test_agent_emits_no_free_and_keeps_no_sockets() -> None:
    agent = Agent({"keepAlive": True})
    freed: list[Any] = []
    agent.on("free", freed.append)
    _requests_with(agent)
    assert freed == [] and agent.sockets == {} and agent.free_sockets == {}
    agent.destroy()
    assert agent.destroyed


def test_set_global_agent_is_used() -> None:
    class Spy(Agent):
        seen: list[Any] = []

    spy = Spy({"keepAlive": False})
    http.set_global_agent(spy)
    try:
        _, _, reqs = _requests_with("omit", count=1)
        assert reqs[0].agent is spy and http.global_agent is spy
    finally:
        http.set_global_agent(global_agent)
    assert http.global_agent is global_agent
