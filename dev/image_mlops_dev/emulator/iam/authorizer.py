"""The emulator authorizes every request as AWS does: identity-based policies, resource-based
policies (S3 bucket policies, a role's trust policy), explicit deny first.

A refusal is answered in the service's own error, with AWS's message: "User: <caller ARN> is
not authorized to perform: <action> on resource: <ARN> because no identity-based policy
allows the <action> action" (or "with an explicit deny in a resource-based policy").

Not evaluated (the docs' list of what the local stack does not enforce): service control
policies, permissions boundaries, session policies, KMS key policies, SNS topic and SQS queue
policies, Lambda resource policies, and ``aws:SourceArn``/``aws:SourceAccount`` of a service
acting for a resource.
"""

from __future__ import annotations

import logging
from typing import Any

from image_mlops_dev.emulator.http.authorization import Refusal
from image_mlops_dev.emulator.iam import actions
from image_mlops_dev.emulator.iam.evaluation import (
    Decision,
    Effect,
    RequestContext,
    decide,
    effects,
    names_account,
    statements,
)
from image_mlops_dev.emulator.iam.principals import (
    SERVICE,
    Principal,
    identity_policies,
    trust_policy,
)

log = logging.getLogger("image_mlops.emulator.iam")

#: What each service answers when IAM refuses: (error code, HTTP status, query compatible).
#: From each service's API reference, "Common errors" / the operation's "Errors".
REFUSALS = {
    "s3": ("AccessDenied", 403, False),
    "sagemaker": ("AccessDeniedException", 400, False),
    "sagemaker-runtime": ("AccessDeniedException", 400, False),
    "cloudwatch": ("AccessDenied", 403, True),
    "logs": ("AccessDeniedException", 400, False),
    "stepfunctions": ("AccessDeniedException", 400, False),
    "lambda": ("AccessDeniedException", 403, False),
    "sns": ("AuthorizationError", 403, False),
    "sqs": ("AccessDenied", 403, True),
    "iam": ("AccessDenied", 403, False),
    "sts": ("AccessDenied", 403, False),
    "cloudformation": ("AccessDenied", 403, False),
    "application-autoscaling": ("AccessDeniedException", 400, False),
    "kms": ("AccessDeniedException", 400, False),
}
#: Actions AWS allows every authenticated caller (IAM User Guide: "GetCallerIdentity ... no
#: permissions are required").
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}


def bucket_policy(account: str, bucket: str | None) -> Any | None:
    """A bucket's policy (moto's S3 backend), or None."""
    if not bucket:
        return None
    from moto.s3.models import s3_backends

    found = s3_backends[account]["aws"].buckets.get(bucket)
    policy = getattr(found, "policy", None)
    return policy.decode() if isinstance(policy, bytes) else policy


def may_assume(
    caller: Principal, role_arn: str, keys: dict[str, list[str]] | None = None
) -> Decision:
    """``sts:AssumeRole`` of ``role_arn`` by ``caller`` (a principal, or a service).

    The role's trust policy must allow it (IAM User Guide, "Granting a user permissions to
    switch roles": a trust policy naming the caller allows on its own; one naming the account
    delegates to the caller's identity-based policies, which must then allow
    ``sts:AssumeRole`` on the role); an explicit deny in either refuses.
    """
    trust = trust_policy(caller.account, role_arn)
    context = RequestContext(
        "sts:AssumeRole",
        role_arn,
        caller.arn,
        caller.account,
        caller.aliases,
        caller.service,
        {**caller.condition_keys(), **(keys or {})},
    )
    denied = "because the role's trust policy does not allow it"
    if trust is None:
        return Decision(False, "because the role does not exist")
    from_trust = effects([trust], context, resource_policy=True)
    if Effect.DENY in from_trust:
        return Decision(False, "with an explicit deny in a resource-based policy")
    if Effect.ALLOW in from_trust:
        return Decision(True)
    if caller.kind == SERVICE:
        return Decision(False, "because the role's trust policy does not allow the service")
    delegated = any(
        statement.get("Effect") == "Allow"
        and names_account(statement.get("Principal"), caller.account)
        for statement in statements(trust)
    )
    identity = decide(identity_policies(caller), [], context)
    if delegated and identity.allowed:
        return Decision(True)
    return Decision(False, identity.reason if delegated else denied)


class Authorizer:
    """``authorize(environ, principal, operation)`` for the HTTP layer."""

    def __init__(self, account: str) -> None:
        self.account = account

    def __call__(self, environ: dict[str, Any], principal: Any, operation: Any) -> Refusal | None:
        if isinstance(principal, Principal) and principal.kind == SERVICE:
            return None  # an AWS service acting on its own behalf (alarms, endpoint metrics)
        if operation is None:
            if principal is None:
                return Refusal(403, "AccessDenied", "Access Denied", "rest-xml")
            return None  # no AWS operation (moto's own answer, a health probe)
        code, status, query_compatible = REFUSALS.get(
            operation.service, ("AccessDenied", 403, False)
        )
        protocol = operation.protocol or "json"
        if not isinstance(principal, Principal):
            return Refusal(status, code, "Access Denied", protocol, query_compatible)
        for check in actions.checks_for(environ, operation, principal, self.account):
            decision = self.decide(principal, check)
            if not decision.allowed:
                return Refusal(
                    status,
                    code,
                    self.message(principal, check, decision),
                    protocol,
                    query_compatible,
                )
        return None

    def decide(self, principal: Principal, check: actions.Check) -> Decision:
        if check.action in ALWAYS_ALLOWED:
            return Decision(True)
        if check.action == "sts:AssumeRole":
            return may_assume(principal, check.resource, check.keys)
        context = RequestContext(
            check.action,
            check.resource,
            principal.arn,
            principal.account,
            principal.aliases,
            principal.service,
            check.keys,
        )
        policy = bucket_policy(self.account, check.bucket)
        return decide(identity_policies(principal), [policy] if policy else [], context)

    def may_delete(
        self, environ: dict[str, Any], principal: Any, bucket: str, key: str, version: str | None
    ) -> bool:
        """One key of a ``DeleteObjects`` (the s3 package's per-key layer asks)."""
        if isinstance(principal, Principal) and principal.kind == SERVICE:
            return True
        if not isinstance(principal, Principal):
            return False
        keys = actions.context_keys(environ, principal, "us-east-1")
        keys.update(actions.s3_keys(environ, "DeleteObject", {"VersionId": version}))
        check = actions.delete_objects_check(bucket, key, version, keys)
        decision = self.decide(principal, check)
        if not decision.allowed:
            log.warning("refused %s", self.message(principal, check, decision))
        return decision.allowed

    @staticmethod
    def message(principal: Principal, check: actions.Check, decision: Decision) -> str:
        """AWS's message (IAM User Guide, "Troubleshoot access denied error messages"); S3
        quotes the resource."""
        resource = ""
        if check.resource != "*":
            quoted = f'"{check.resource}"' if check.action.startswith("s3:") else check.resource
            resource = f" on resource: {quoted}"
        return (
            f"User: {principal.arn} is not authorized to perform: {check.action}{resource} "
            f"{decision.reason}"
        )
