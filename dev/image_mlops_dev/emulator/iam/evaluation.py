"""IAM policy evaluation as AWS documents it (pure: no moto, no request).

The rules and where they come from (AWS IAM User Guide, as of 2026-12):

* *Policy evaluation logic* (``reference_policies_evaluation-logic.html``): an explicit
  ``Deny`` in any applicable policy wins; otherwise, within one account, an ``Allow`` in an
  identity-based policy *or* in a resource-based policy allows; otherwise the request is
  implicitly denied.
* *IAM JSON policy elements*: ``Action``/``NotAction`` (case-insensitive, ``*`` and ``?``),
  ``Resource``/``NotResource`` (ARNs matched segment by segment; a ``*`` in the resource
  segment also spans ``/`` and ``:``, "if the * wildcard is the last character of a resource
  ARN segment, it can expand to match beyond the colon boundaries"), ``Principal``/
  ``NotPrincipal`` (resource-based policies only), ``Condition``.
* *Condition operators* (``reference_policies_elements_condition_operators.html``): every
  operator of a block and every key of an operator must hold (AND), any value of a key may
  match (OR); a negated operator (``StringNotEquals``, ``ArnNotLike``, ...) holds when no
  value matches; "If the key that you specify in a policy condition is not present in the
  request context, the values do not match and the condition is false. If the policy
  condition requires that the key is not matched, such as StringNotLike or ArnNotLike, and
  the right key is not present, the condition is true." ``...IfExists`` holds when the key
  is absent; ``Null`` tests presence.
* *Multivalued context keys*: ``ForAllValues:`` holds when every request value matches (and
  when the key is absent or empty); ``ForAnyValue:`` when at least one does.
* *Principal element*: ``"*"`` is everyone; ``{"AWS": <account>}`` or the account root ARN
  delegates to the account's identity-based policies (it matches every principal of the
  account for a ``Deny``, and grants nothing itself); a role's ARN matches its sessions.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


class Effect(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True)
class RequestContext:
    """What one authorization check is about."""

    action: str  # "s3:GetObject"
    resource: str  # an ARN, or "*"
    #: the caller: an IAM user, an assumed-role session, or a service principal
    principal: str
    account: str = ""
    #: further ARNs a resource-based policy may name for this caller (a session's role)
    principal_aliases: tuple[str, ...] = ()
    #: a service principal ("sagemaker.amazonaws.com") when a service calls
    service: str | None = None
    #: condition keys, lower case → values
    keys: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: "explicit deny in an identity-based policy", "explicit deny in a resource-based
    #: policy", "no identity-based policy allows the <action> action", or "" (allowed)
    reason: str = ""


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(policy: Any) -> list[dict[str, Any]]:
    """The statements of a policy document (a dict or its JSON text)."""
    document = json.loads(policy) if isinstance(policy, str | bytes) else policy
    return [s for s in listed((document or {}).get("Statement", [])) if isinstance(s, dict)]


# --- matching -----------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = ["(?s)"] + [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts) + r"\Z", re.IGNORECASE if ignore_case else 0)


def like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """``value`` matches ``pattern`` (``*``: any characters, ``?``: one)."""
    return _wildcard(pattern, ignore_case).match(value) is not None


def arn_like(pattern: str, arn: str) -> bool:
    """An ARN pattern of a policy matches ``arn`` (see the module docstring)."""
    if pattern == "*":
        return True
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(given) != 6:
        return like(pattern, arn)
    return all(like(w, g) for w, g in zip(wanted, given, strict=True))


# --- conditions ---------------------------------------------------------------------------
def _number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: str) -> dt.datetime | None:
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return dt.datetime.fromtimestamp(float(text), dt.UTC)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        return None


def _compare(cast, check):
    def test(expected: str, actual: str) -> bool:
        left, right = cast(actual), cast(expected)
        return left is not None and right is not None and check(left, right)

    return test


def _ip(expected: str, actual: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


def _binary(expected: str, actual: str) -> bool:
    try:
        return base64.b64decode(expected) == base64.b64decode(actual)
    except ValueError:
        return False


#: operator → (test of one policy value against one request value, negated)
OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (lambda e, a: e == a, False),
    "StringNotEquals": (lambda e, a: e == a, True),
    "StringEqualsIgnoreCase": (lambda e, a: e.lower() == a.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda e, a: e.lower() == a.lower(), True),
    "StringLike": (lambda e, a: like(e, a), False),
    "StringNotLike": (lambda e, a: like(e, a), True),
    "NumericEquals": (_compare(_number, lambda a, e: a == e), False),
    "NumericNotEquals": (_compare(_number, lambda a, e: a == e), True),
    "NumericLessThan": (_compare(_number, lambda a, e: a < e), False),
    "NumericLessThanEquals": (_compare(_number, lambda a, e: a <= e), False),
    "NumericGreaterThan": (_compare(_number, lambda a, e: a > e), False),
    "NumericGreaterThanEquals": (_compare(_number, lambda a, e: a >= e), False),
    "DateEquals": (_compare(_date, lambda a, e: a == e), False),
    "DateNotEquals": (_compare(_date, lambda a, e: a == e), True),
    "DateLessThan": (_compare(_date, lambda a, e: a < e), False),
    "DateLessThanEquals": (_compare(_date, lambda a, e: a <= e), False),
    "DateGreaterThan": (_compare(_date, lambda a, e: a > e), False),
    "DateGreaterThanEquals": (_compare(_date, lambda a, e: a >= e), False),
    "Bool": (lambda e, a: str(e).lower() == str(a).lower(), False),
    "BinaryEquals": (_binary, False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
    "ArnEquals": (lambda e, a: arn_like(e, a), False),
    "ArnLike": (lambda e, a: arn_like(e, a), False),
    "ArnNotEquals": (lambda e, a: arn_like(e, a), True),
    "ArnNotLike": (lambda e, a: arn_like(e, a), True),
}


class UnknownConditionOperator(ValueError):
    """A policy uses an operator IAM does not have (AWS refuses such a policy when it is
    written; here it can only come from a policy moto stored without checking)."""


def condition_holds(operator: str, key: str, expected: list[Any], keys: Mapping[str, Any]) -> bool:
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists") and name != "IfExists"
    name = name.removesuffix("IfExists") if if_exists else name
    actual = [str(v) for v in listed(keys[key])] if key in keys else []
    present = key in keys
    expected = [str(v) if not isinstance(v, bool) else str(v).lower() for v in expected]
    if name == "Null":
        wanted_absent = expected[0].lower() == "true"
        return (not present) == wanted_absent
    if name not in OPERATORS:
        raise UnknownConditionOperator(operator)
    test, negated = OPERATORS[name]

    def holds_for(value: str) -> bool:
        matched = any(test(e, value) for e in expected)
        return not matched if negated else matched

    if qualifier == "ForAllValues":
        return all(holds_for(v) for v in actual)
    if qualifier == "ForAnyValue":
        return any(holds_for(v) for v in actual)
    if not present:
        return if_exists or negated
    if negated:
        return all(holds_for(v) for v in actual)
    return any(holds_for(v) for v in actual)


def conditions_hold(block: Mapping[str, Mapping[str, Any]], keys: Mapping[str, Any]) -> bool:
    lowered = {k.lower(): v for k, v in keys.items()}
    return all(
        condition_holds(operator, key.lower(), listed(values), lowered)
        for operator, pairs in (block or {}).items()
        for key, values in pairs.items()
    )


# --- principals ---------------------------------------------------------------------------
def _account_root(value: str, account: str) -> bool:
    return value in (account, f"arn:aws:iam::{account}:root")


def principal_matches(element: Any, context: RequestContext, effect: str) -> bool:
    """A resource-based policy's ``Principal`` names the caller."""
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    if context.service is not None:
        return any(
            context.service == s or like(s, context.service)
            for s in listed(element.get("Service", []))
        ) or "*" in listed(element.get("AWS", []))
    for value in listed(element.get("AWS", [])):
        if value == "*" or value in (context.principal, *context.principal_aliases):
            return True
        if effect == "Deny" and _account_root(value, context.account):
            return True  # a Deny naming the account applies to everyone in it
    return False


def names_account(element: Any, account: str) -> bool:
    """The ``Principal`` names the account itself (it delegates to identity policies)."""
    return isinstance(element, dict) and any(
        _account_root(v, account) for v in listed(element.get("AWS", []))
    )


# --- statements and policies --------------------------------------------------------------
def statement_effect(
    statement: Mapping[str, Any], context: RequestContext, *, resource_policy: bool = False
) -> Effect | None:
    """The statement's effect on the request, or None when it does not apply."""
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        return None
    if "Action" in statement:
        if not any(like(a, context.action, ignore_case=True) for a in listed(statement["Action"])):
            return None
    elif "NotAction" in statement:
        if any(like(a, context.action, ignore_case=True) for a in listed(statement["NotAction"])):
            return None
    else:
        return None
    if "Resource" in statement:
        if not any(arn_like(r, context.resource) for r in listed(statement["Resource"])):
            return None
    elif "NotResource" in statement:
        if any(arn_like(r, context.resource) for r in listed(statement["NotResource"])):
            return None
    elif not resource_policy:
        return None  # an identity-based statement names its resources
    if resource_policy:
        if "Principal" in statement:
            if not principal_matches(statement["Principal"], context, effect):
                return None
            if effect == "Allow" and names_account(statement["Principal"], context.account):
                return None  # delegates to the identity-based policies: grants nothing here
        elif "NotPrincipal" in statement:
            if principal_matches(statement["NotPrincipal"], context, "Allow"):
                return None
        else:
            return None
    if not conditions_hold(statement.get("Condition") or {}, context.keys):
        return None
    return Effect(effect)


def effects(
    policies: Iterable[Any], context: RequestContext, *, resource_policy: bool = False
) -> set[Effect]:
    found: set[Effect] = set()
    for policy in policies:
        for statement in statements(policy):
            effect = statement_effect(statement, context, resource_policy=resource_policy)
            if effect is not None:
                found.add(effect)
    return found


def decide(
    identity_policies: Iterable[Any], resource_policies: Iterable[Any], context: RequestContext
) -> Decision:
    """Evaluate a request within one account (see the module docstring)."""
    identity = effects(identity_policies, context)
    resource = effects(resource_policies, context, resource_policy=True)
    if Effect.DENY in identity:
        return Decision(False, "with an explicit deny in an identity-based policy")
    if Effect.DENY in resource:
        return Decision(False, "with an explicit deny in a resource-based policy")
    if Effect.ALLOW in identity or Effect.ALLOW in resource:
        return Decision(True)
    return Decision(False, f"because no identity-based policy allows the {context.action} action")
