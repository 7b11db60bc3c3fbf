"""Who calls: an IAM user, a role's session, or an AWS service acting on its own behalf.

A principal's identity-based policies are read from moto's IAM backend at each request (the
roles and policies the CloudFormation template created), so a changed policy takes effect
at once, as on AWS.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

USER, ASSUMED_ROLE, SERVICE = "user", "assumed-role", "service"


@dataclass(frozen=True)
class Principal:
    kind: str  # USER, ASSUMED_ROLE or SERVICE
    account: str
    #: a user's or role's name, or a service principal ("sagemaker.amazonaws.com")
    name: str
    session: str | None = None
    issued: dt.datetime | None = None

    @property
    def arn(self) -> str:
        if self.kind == USER:
            return f"arn:aws:iam::{self.account}:user/{self.name}"
        if self.kind == ASSUMED_ROLE:
            return f"arn:aws:sts::{self.account}:assumed-role/{self.name}/{self.session}"
        return self.name

    @property
    def role_arn(self) -> str | None:
        return (
            f"arn:aws:iam::{self.account}:role/{self.name}" if self.kind == ASSUMED_ROLE else None
        )

    @property
    def aliases(self) -> tuple[str, ...]:
        """Further ARNs a resource-based policy may name for this caller (its role)."""
        return (self.role_arn,) if self.role_arn else ()

    @property
    def service(self) -> str | None:
        return self.name if self.kind == SERVICE else None

    def condition_keys(self) -> dict[str, list[str]]:
        """The principal's global condition keys (IAM User Guide, "AWS global condition
        context keys": ``aws:PrincipalArn`` of a session is its role's ARN)."""
        if self.kind == SERVICE:
            return {"aws:principalservicename": [self.name]}
        keys = {
            "aws:principalarn": [self.role_arn or self.arn],
            "aws:principalaccount": [self.account],
            "aws:principaltype": ["AssumedRole" if self.kind == ASSUMED_ROLE else "User"],
        }
        if self.kind == USER:
            keys["aws:username"] = [self.name]
        if self.issued is not None:
            keys["aws:tokenissuetime"] = [self.issued.strftime("%Y-%m-%dT%H:%M:%SZ")]
        return keys


def iam_backend(account: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


def _document(text: Any) -> Any:
    """A policy document as moto keeps it (JSON text, sometimes URL-encoded)."""
    if isinstance(text, dict):
        return text
    text = str(text)
    return json.loads(unquote(text) if text.lstrip().startswith("%7B") else text)


def _managed(policy: Any) -> Any:
    version = next((v for v in policy.versions if v.is_default), policy.versions[-1])
    return _document(version.document)


def identity_policies(principal: Principal) -> list[Any]:
    """The principal's identity-based policies: inline and attached managed ones (a user's
    groups' too)."""
    from moto.iam.exceptions import NoSuchEntity, NotFoundException

    backend = iam_backend(principal.account)
    try:
        if principal.kind == USER:
            user = backend.get_user(principal.name)
            found = [_document(d) for d in user.policies.values()]
            found += [_managed(p) for p in user.managed_policies.values()]
            for group in backend.get_groups_for_user(principal.name):
                found += [_document(d) for d in group.policies.values()]
                found += [_managed(p) for p in group.managed_policies.values()]
            return found
        if principal.kind == ASSUMED_ROLE:
            role = backend.get_role(principal.name)
            found = [_document(d) for d in role.policies.values()]
            return found + [_managed(p) for p in role.managed_policies.values()]
    except (NoSuchEntity, NotFoundException):
        return []  # a deleted user or role: no policy allows anything
    return []


def trust_policy(account: str, role_arn: str) -> Any | None:
    """A role's trust policy (None: no such role)."""
    from moto.iam.exceptions import NotFoundException

    try:
        role = iam_backend(account).get_role_by_arn(role_arn)
    except NotFoundException:
        return None
    return _document(role.assume_role_policy_document)


def role_exists(account: str, role_arn: str) -> bool:
    return trust_policy(account, role_arn) is not None
