"""Human approval: what the approver sees, and writing the decision to the registry.

The registry is the single source of truth: Approve sets the package ``Approved`` with who
and when in ``ApprovalDescription``; Reject sets ``Rejected``. A package already decided in
the registry (e.g. in SageMaker Studio) is not asked again (:func:`route`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from image_mlops import markdown as md
from image_mlops import registry
from image_mlops.config import Settings
from image_mlops.deployment import history
from image_mlops.registry import APPROVED, PENDING, REJECTED, ModelPackage

log = logging.getLogger(__name__)
ASK, DEPLOY, STOP = "ask", "deploy", "stop"


def route(candidate: ModelPackage) -> str:
    """``ask`` (pending), ``deploy`` (already Approved) or ``stop`` (already Rejected)."""
    return {PENDING: ASK, APPROVED: DEPLOY, REJECTED: STOP}.get(candidate.approval_status, STOP)


def _fmt(value: Any, digits: int = 3) -> str:
    if value in (None, ""):
        return "—"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _recalls(evaluation: dict[str, Any]) -> dict[str, float]:
    per_class = evaluation.get("per_class") or {}
    return {
        cls: values.get("recall")
        for cls, values in per_class.items()
        if isinstance(values, dict) and values.get("recall") is not None
    }


def comparison_markdown(
    candidate: ModelPackage,
    candidate_eval: dict[str, Any],
    production: ModelPackage | None,
    production_eval: dict[str, Any],
) -> str:
    """ModelPackage next to the production model: metrics, per-class recall, lineage."""
    prod_title = f"production v{production.version}" if production else "production (none)"
    pm = production.metadata if production else {}
    cm = candidate.metadata

    def metric(name: str, evaluation: dict, metadata: dict) -> Any:
        return evaluation.get(name, metadata.get(name))

    rows = [
        (
            "accuracy",
            _fmt(metric("accuracy", candidate_eval, cm)),
            _fmt(metric("accuracy", production_eval, pm)) if production else "—",
        ),
        (
            "macro F1",
            _fmt(metric("macro_f1", candidate_eval, cm)),
            _fmt(metric("macro_f1", production_eval, pm)) if production else "—",
        ),
        *[
            (label, md.text(cm.get(key, "—")), md.text(pm.get(key, "—")))
            for label, key in (
                ("data fingerprint", "data_fingerprint"),
                ("trained by", "trained_by"),
                ("training run", "training_run_id"),
                ("code version", "code_version"),
            )
        ],
        (
            "artifact sha256",
            md.text(str(cm.get("artifact_sha256", "—"))[:16]),
            md.text(str(pm.get("artifact_sha256", "—"))[:16]),
        ),
    ]
    lines = [
        f"| | candidate v{candidate.version} | {prod_title} |",
        "|---|---|---|",
        *[f"| {name} | {a} | {b} |" for name, a, b in rows],
    ]
    lines += gate_data_markdown(candidate_eval)
    c_rec, p_rec = _recalls(candidate_eval), _recalls(production_eval)
    if c_rec or p_rec:
        lines += [
            "",
            "**Per-class recall**",
            "",
            "| class | candidate | production | Δ |",
            "|---|---|---|---|",
        ]
        for cls in sorted(set(c_rec) | set(p_rec)):
            a, b = c_rec.get(cls), p_rec.get(cls)
            delta = f"{a - b:+.3f}" if a is not None and b is not None else "—"
            flag = " ⚠" if a is not None and b is not None and a < b else ""
            lines.append(f"| {md.text(cls)} | {_fmt(a)} | {_fmt(b)} | {delta}{flag} |")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{md.text(k)} {v}" for k, v in sorted(counts.items())) or "none"


def gate_data_markdown(evaluation: dict[str, Any]) -> list[str]:
    """What the quality gate compared (test split, recent window) and where the labels came
    from, as the training step recorded them in the candidate's ``evaluation.json``."""
    comparison = evaluation.get("comparison") or {}
    lines: list[str] = []
    if comparison:
        test, recent = comparison.get("test") or {}, comparison.get("recent") or {}

        def cell(scores: dict | None) -> str:
            return f"{_fmt(scores['accuracy'])} (n={scores['n']})" if scores else "—"

        lines += [
            "",
            "**Quality gate: accuracy on the same images**",
            "",
            "| data | candidate | production |",
            "|---|---|---|",
            f"| test split | {cell(test.get('candidate'))} | {cell(test.get('production'))} |",
        ]
        if recent.get("candidate"):
            lines.append(
                f"| labels since the drift alarm ({md.text(recent.get('since', ''))}; "
                f"{_counts(recent.get('by_source', {}))}) | {cell(recent.get('candidate'))} | "
                f"{cell(recent.get('production'))} |"
            )
        elif recent.get("note"):
            lines += ["", f"Recent window: {md.text(recent['note'])}"]
    lineage = evaluation.get("data_lineage") or {}
    if lineage:
        lines += ["", f"**Training data** by label source: {_counts(lineage.get('by_source', {}))}"]
        new = lineage.get("new_since_previous")
        if new:
            lines[-1] += (
                f"; new since the previous model: {new['total']} "
                f"({_counts(new.get('by_source', {}))})"
            )
    return lines


def readable_evaluation(settings: Settings, package: ModelPackage) -> dict[str, Any]:
    """The package's evaluation.json, or ``{}`` when it has none or it cannot be read (the
    approver then sees the registry's metadata and "—")."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return registry.load_evaluation(settings, package)
    except (ValueError, ClientError, BotoCoreError) as exc:
        log.warning("evaluation of %s unreadable: %s", package.arn, exc)
        return {}


def candidate_body(settings: Settings, candidate_arn: str) -> str:
    """The body of the first approval (markdown)."""
    from image_mlops.deployment.endpoints import production_model

    candidate = registry.describe_package(settings, candidate_arn)
    serving = production_model(settings)
    production = None
    if serving and serving.package_arn:
        try:
            production = registry.describe_package(settings, serving.package_arn)
        except registry.PackageNotFound:
            production = None
    return "\n".join(
        [
            f"Deploy **{md.text(settings.model_name)} v{candidate.version}** to staging "
            f"({md.code(settings.endpoint_name('staging'))})?",
            "",
            "Approve sets the package **Approved** in the model registry and deploys it to "
            "staging, then smoke-tests it. Reject sets it **Rejected**; nothing is deployed.",
            "",
            comparison_markdown(
                candidate,
                readable_evaluation(settings, candidate),
                production,
                readable_evaluation(settings, production) if production else {},
            ),
            "",
            f"Package: {md.code(candidate.arn)}  ",
            f"Artifact: {md.code(candidate.artifact_uri)}",
        ]
    )


def production_body(settings: Settings, candidate_arn: str, run_id: str) -> str:
    """The body of the production approval: the staging result and the comparison."""
    staging = [r for r in history.for_run(settings, run_id) if r["stage"] == "staging"]
    lines = [
        f"Promote **v{registry.describe_package(settings, candidate_arn).version}** to production "
        f"({md.code(settings.endpoint_name('production'))})?",
        "",
        "Staging deployment of this run:",
        "",
        history.markdown(staging) if staging else "_no staging record_",
        "",
        candidate_body(settings, candidate_arn).split("\n", 4)[-1],
    ]
    return "\n".join(lines)


def approval_description(
    approved: bool, approver: str, at: dt.datetime | str | None, run_id: str
) -> str:
    at_text = at.isoformat() if isinstance(at, dt.datetime) else str(at or "")
    verb = "Approved" if approved else "Rejected"
    return f"{verb} by {approver} at {at_text} in Airflow deploy_model run {run_id}"


def record_decision(
    settings: Settings,
    *,
    stage: str,
    candidate_arn: str,
    approved: bool,
    approver: str,
    at: dt.datetime | str | None,
    run_id: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Write a human decision: the registry status (first approval) and the history.

    ``reason`` replaces the usual "rejected by …" (an approval nobody answered)."""
    candidate = registry.describe_package(settings, candidate_arn)
    if stage == "approval":
        status = APPROVED if approved else REJECTED
        if candidate.approval_status != status:
            registry.set_approval_status(
                settings,
                candidate.arn,
                status,
                f"Rejected: {reason} (run {run_id})"
                if reason
                else approval_description(approved, approver, at, run_id),
            )
        if approved:  # the staging record carries the approver
            return {"approved": True, "approver": approver}
        return history.record(
            settings,
            run_id,
            "approval",
            package_arn=candidate.arn,
            package_version=candidate.version,
            outcome="rejected",
            finished=True,
            approver=approver,
            reason=reason or f"rejected by {approver} in Airflow",
        )
    if approved:
        return {"approved": True, "approver": approver}
    return history.record(
        settings,
        run_id,
        "production",
        package_arn=candidate.arn,
        package_version=candidate.version,
        outcome="rejected",
        finished=True,
        approver=approver,
        endpoint_name=settings.endpoint_name("production"),
        reason=(reason or f"promotion to production rejected by {approver}")
        + "; staging keeps the model",
    )
