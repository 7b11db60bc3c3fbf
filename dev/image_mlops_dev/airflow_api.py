"""A small client for Airflow 3's REST API (``/api/v2``): what the demo and e2e tests need.

Everything the demo does to Airflow goes through here — the same API the UI uses — so the
story really runs on the scheduler, the Assets and the human-in-the-loop operator.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FINISHED = {"success", "failed"}


class AirflowApiError(RuntimeError):
    pass


@dataclass
class AirflowClient:
    base_url: str
    #: a JWT from /auth/token when the auth manager needs one (the local stack does not)
    token: str | None = None
    timeout: float = 30

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        payload = self._send(
            method, f"/api/v2{path}", data, "application/json", accept="application/json"
        )
        return json.loads(payload) if payload else None

    def post_form(self, path: str, fields: dict[str, str]) -> bytes:
        """POST an HTML form (``application/x-www-form-urlencoded``) to a page of the
        api-server, e.g. the Review page; returns the page it redirects to."""
        data = urllib.parse.urlencode(fields).encode()
        return self._send("POST", path, data, "application/x-www-form-urlencoded")

    def _send(
        self, method: str, path: str, data: bytes | None, content_type: str, accept: str = "*/*"
    ) -> bytes:
        url = f"{self.base_url.rstrip('/')}{path}"
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", accept)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise AirflowApiError(f"{method} {path} → HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise AirflowApiError(
                f"{method} {path}: Airflow not reachable at {url}: {exc}"
            ) from exc
        return payload

    # -- DAGs ------------------------------------------------------------------------------------
    def dag(self, dag_id: str) -> dict | None:
        try:
            return self._request("GET", f"/dags/{_q(dag_id)}")
        except AirflowApiError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def dags(self) -> list[dict]:
        return self._request("GET", "/dags?limit=100")["dags"]

    def import_errors(self) -> list[dict]:
        return self._request("GET", "/importErrors")["import_errors"]

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        """Until the dag-processor has parsed every one of ``dag_ids``."""
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while time.monotonic() < deadline:
            missing = [d for d in dag_ids if self.dag(d) is None]
            if not missing:
                return
            errors = self.import_errors()
            if errors:
                first = errors[0]
                raise AirflowApiError(
                    f"DAG import error in {first.get('filename')}: "
                    f"{first.get('stack_trace', '')[-800:]}"
                )
            time.sleep(2)
        raise AirflowApiError(f"DAGs not parsed after {timeout:.0f} s: {', '.join(missing)}")

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self._request("PATCH", f"/dags/{_q(dag_id)}", {"is_paused": paused})

    # -- runs ------------------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: dict | None = None, run_id: str | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self._request("POST", f"/dags/{_q(dag_id)}/dagRuns", body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self._request("GET", f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")

    def runs(self, dag_id: str, limit: int = 50) -> list[dict]:
        path = f"/dags/{_q(dag_id)}/dagRuns?limit={limit}&order_by=-run_after"
        return self._request("GET", path)["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances?limit=500"
        return self._request("GET", path)["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = (
            f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/xcomEntries/{_q(key)}?deserialize=true&stringify=false"
        )
        return self._request("GET", path).get("value")

    def wait_for_new_run(
        self, dag_id: str, known: set[str], timeout: float = 300, poll: float = 2
    ) -> str:
        """The id of the first run of ``dag_id`` not in ``known`` (e.g. asset-triggered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run in self.runs(dag_id):
                if run["dag_run_id"] not in known:
                    return run["dag_run_id"]
            time.sleep(poll)
        raise AirflowApiError(f"no new run of {dag_id} after {timeout:.0f} s")

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 600,
        poll: float = 2,
        on_poll: Callable[[dict], None] | None = None,
    ) -> dict:
        """Poll until the run finishes; ``on_poll(run)`` is called on every poll."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if on_poll:
                on_poll(run)
            if run["state"] in FINISHED:
                return run
            time.sleep(poll)
        raise AirflowApiError(f"{dag_id} run {run_id} not finished after {timeout:.0f} s")

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The text of one try's task log (what the UI's log view shows)."""
        path = (
            f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/logs/{int(try_number)}?full_content=true"
        )
        content = self._request("GET", path).get("content") or []
        if isinstance(content, str):
            return content
        return "\n".join(
            " ".join(
                str(part.get(k, "")) for k in ("timestamp", "event", "error_detail") if part.get(k)
            )
            if isinstance(part, dict)
            else str(part)
            for part in content
        )

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> None:
        self._request("PATCH", f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", {"state": state})

    def failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        return [
            ti["task_id"]
            for ti in self.task_instances(dag_id, run_id)
            if ti["state"] in ("failed", "upstream_failed")
        ]

    # -- human in the loop -------------------------------------------------------------------
    def pending_approvals(self, dag_id: str, run_id: str) -> list[dict]:
        """HITL requests of the run that have no answer yet, with their task waiting for it."""
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/hitlDetails"
        details = self._request("GET", path).get("hitl_details", [])
        return [
            d
            for d in details
            if not d.get("response_received")
            and (d.get("task_instance") or {}).get("state") in HITL_WAITING_STATES
        ]

    def answer(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        option: str,
        map_index: int = -1,
        params_input: dict | None = None,
    ) -> dict:
        path = (
            f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/{map_index}/hitlDetails"
        )
        body = {"chosen_options": [option], "params_input": params_input or {}}
        return self._request("PATCH", path, body)


def _hitl_waiting_states() -> frozenset[str]:
    """The state of a task that waits for its human: ``awaiting_input`` on Airflow 3.3+;
    before 3.3 (MWAA's 3.2.1) the HITL operator defers to a trigger, so ``deferred``. Only
    the one of the Airflow installed (the stack's): on 3.3 a task may be ``deferred`` for a
    moment before it awaits input, and an answer then can lose the race described in
    :class:`ApprovalAnswerer`."""
    from importlib.metadata import version

    from packaging.version import Version

    airflow = Version(version("apache-airflow"))
    return frozenset({"awaiting_input" if airflow >= Version("3.3") else "deferred"})


HITL_WAITING_STATES = _hitl_waiting_states()


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class ApprovalAnswerer:
    """Answers HITL requests safely: only after they have waited ``settle`` seconds.

    Airflow 3.3.2 can fail the task when the answer lands before the scheduler has processed
    the task's deferral (its LocalExecutor then sees a stale "success" for a task it has
    re-queued); on a busy 2-core machine that took over 4 s. We note when each request was
    first seen and answer on a later poll, 10 s on (as the emulator's job polls wait), after
    re-checking it is still waiting. A retried task asks again: its new try
    is a new request and waits the full ``settle`` too (answering it at once would lose the
    same race again).
    """

    def __init__(
        self, client: AirflowClient, decide: Callable[[dict], str], settle: float = 10.0
    ) -> None:
        self.client = client
        self.decide = decide
        self.settle = settle
        self._first_seen: dict[tuple, float] = {}
        self.answered: list[tuple[str, str]] = []

    def poll(self, dag_id: str, run_id: str) -> None:
        now = time.monotonic()
        for detail in self.client.pending_approvals(dag_id, run_id):
            ti = detail["task_instance"]
            key = (dag_id, run_id, ti["task_id"], ti.get("map_index", -1), ti.get("try_number"))
            first = self._first_seen.setdefault(key, now)
            if now - first < self.settle:
                continue
            option = self.decide(detail)
            self.client.answer(dag_id, run_id, ti["task_id"], option, ti.get("map_index", -1))
            self.answered.append((ti["task_id"], option))
