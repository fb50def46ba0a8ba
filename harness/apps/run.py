"""Run an app scenario on a target, with Node's answer to the same requests beside it.

The runner hands every `kind: app` scenario here. The target's app server (started once
per run, harness/apps/serve.py) gets the requests through the raw client, one after
another on fresh connections; the node target's app server gets the same requests
(answers are kept by scenario, so a target after Node in the run reuses Node's), and its
answer goes into the observations as `oracle`. A target that cannot run JavaScript apps
(registry: runs_js_apps) is skipped; an app that does not start is `app_error`, which
the verdict makes a FAIL.
"""

from __future__ import annotations

import json
import traceback
from typing import TYPE_CHECKING, Any

from harness.apps import request as templates
from harness.apps.launch import AppNotInstalled, AppStartError
from harness.apps.serve import AppServer, AppServers
from harness.observations import AppOracle, Json, Observations, RawResponse, WireRecord
from harness.targets import registry

if TYPE_CHECKING:
    from harness.wire import Wire

ORACLE = "node"  # for an app, Node is the specification
LOG_LINES = 20
LOG_WAIT_S = 0.1


def skip_reason(target: str) -> str | None:
    """Why a target runs no app, or None when it does."""
    info = registry.info(target)
    if info.runs_js_apps:
        return None
    if info.kind == "reference":
        return f"{target} is the Python reference implementation (harness/reference/): a JavaScript app cannot run on it"
    return f"{target} cannot run a JavaScript app (runs_js_apps is off in its registry entry)"


class AppRunner:
    def __init__(self, wire: Wire, log: Any = None) -> None:
        self.wire = wire
        self.servers = AppServers(log or (lambda _m: None))
        self._node_answers: dict[str, WireRecord] = {}  # by scenario

    def run(self, target: str, scenario: Json) -> Observations:
        reason = skip_reason(target)
        if reason is not None:
            return {"status": "skipped", "detail": reason, "app": str(scenario["app"]), "app_error": None,
                    "oracle": None, "wire": {"responses": []}}
        try:
            return self._run(target, scenario)
        except AppNotInstalled as exc:
            return {"status": "error", "detail": str(exc)}
        except Exception as exc:  # a harness bug: ERROR, with the stack for whoever debugs it
            return {"status": "error", "detail": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"}

    def _run(self, target: str, scenario: Json) -> Observations:
        app = str(scenario["app"])
        obs: Observations = {"status": "ok", "detail": "", "app": app, "app_error": None, "oracle": None,
                             "wire": {"responses": []}}
        try:
            server = self.servers.get(target, app)
        except AppStartError as exc:
            obs["app_error"] = str(exc)
            return obs
        mark = server.process.log.count
        obs["wire"] = self._send(server, scenario)
        if any(r.get("error") or (r.get("status") or 0) >= 500 for r in obs["wire"].get("responses", [])):
            # the runtime logs why after the answer went out: give its log a moment to say it
            server.process.log.wait_until(lambda lines: server.process.log.count > mark, LOG_WAIT_S)
        logged = server.process.log.since(mark)
        if logged:
            obs["detail"] = "\n".join(logged[-LOG_LINES:])
        if not server.alive():
            return {"status": "crash", "detail": f"the {app} app's process on {target} exited with code "
                    f"{server.process.returncode()} during the scenario; it restarts on next use\n{server.log_tail()}"}
        if target == ORACLE:
            if _answered(obs["wire"]):  # a failed one is asked again for a target that compares with it
                self._node_answers[self._key(app, scenario)] = obs["wire"]
        else:
            obs["oracle"] = self._node_answer(app, scenario)
        return obs

    @staticmethod
    def _key(app: str, scenario: Json) -> str:
        return json.dumps({"app": app, "requests": scenario["requests"]}, sort_keys=True)

    def _send(self, server: AppServer, scenario: Json) -> WireRecord:
        timeout_s = scenario.get("timeout_ms", 5000) / 1000
        answers: list[RawResponse] = []
        for i, template in enumerate(scenario["requests"]):
            raw = templates.raw_request(template, answers)
            answer = self.wire.exchange([raw], [server.address], timeout_s)["responses"][0]
            answer["request"] = i
            answers.append(answer)
        return {"responses": answers}

    def _node_answer(self, app: str, scenario: Json) -> AppOracle:
        key = self._key(app, scenario)
        if key not in self._node_answers:
            try:
                server = self.servers.get(ORACLE, app)
            except AppStartError as exc:
                return {"target": ORACLE, "error": str(exc)}
            answer = self._send(server, scenario)
            if not _answered(answer):  # once more: under load an exchange can time out, and a lost
                answer = self._send(server, scenario)  # answer of Node's would fail the other target
            self._node_answers[key] = answer
        return {"target": ORACLE, "wire": self._node_answers[key]}

    def info(self) -> dict[str, Any]:
        return self.servers.info()

    def close(self) -> None:
        self.servers.close()


def _answered(wire: WireRecord) -> bool:
    """Every request of the exchange got an answer (no connection error or timeout)."""
    return not any(r.get("error") for r in wire.get("responses", []))
