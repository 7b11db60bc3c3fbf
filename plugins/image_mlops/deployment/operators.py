"""The approval operator of deploy_model: Airflow's ApprovalOperator wired to the registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator


class RegistryApprovalOperator(ApprovalOperator):
    """Ask a human to approve ``package_arn`` and record the answer.

    ``stage="approval"``: the body compares the candidate with the production model; the
    answer is written to the model registry (Approved/Rejected, who and when) and, for a
    rejection, to the deployments history. ``stage="production"``: the body shows the staging
    result; a rejection is recorded in the history. As with ApprovalOperator, Reject skips
    the downstream tasks.

    Nobody answering is a Reject: ``defaults`` is Reject, and after ``response_timeout`` (the
    ``IMAGE_MLOPS_APPROVAL_TIMEOUT_HOURS`` setting in ``deploy_model``) Airflow answers with it;
    the registry and the history record that nobody answered.
    """

    template_fields: Sequence[str] = (*ApprovalOperator.template_fields, "package_arn")

    def __init__(self, *, package_arn: str, stage: str = "approval", **kwargs: Any) -> None:
        kwargs.setdefault("body", "")
        kwargs.setdefault("defaults", self.REJECT)  # the safe answer, also on a timeout
        super().__init__(**kwargs)
        if stage not in ("approval", "production"):
            raise ValueError(f"stage must be approval or production, not {stage!r}")
        self.package_arn = package_arn
        self.stage = stage

    def execute(self, context):
        from image_mlops.config import get_settings
        from image_mlops.deployment import approval

        if self.stage == "approval":
            self.body = approval.candidate_body(get_settings(), self.package_arn)
        else:
            self.body = approval.production_body(
                get_settings(), self.package_arn, context["run_id"]
            )
        return super().execute(context)

    def execute_complete(self, context, event: dict[str, Any]) -> Any:
        if "error" not in event:
            from image_mlops.config import get_settings
            from image_mlops.deployment import approval

            chosen = event["chosen_options"]
            self.validate_chosen_options(chosen)
            user = event.get("responded_by_user") or {}
            approved = chosen[0] == self.APPROVE
            reason = None
            if event.get("timedout"):
                approver = "nobody"
                reason = (
                    f"no answer within {self.response_timeout}: "
                    f"the default answer {chosen[0]!r} was taken"
                )
                self.log.warning("%s: %s", self.package_arn, reason)
            else:
                approver = str(user.get("name") or user.get("id") or "unknown")
                self.log.info(
                    "%s: %s by %s",
                    self.package_arn,
                    "approved" if approved else "rejected",
                    approver,
                )
            approval.record_decision(
                get_settings(),
                stage=self.stage,
                candidate_arn=self.package_arn,
                approved=approved,
                approver=approver,
                at=event.get("responded_at"),
                run_id=context["run_id"],
                reason=reason,
            )
        return super().execute_complete(context, event)
