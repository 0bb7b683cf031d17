"""The commands an agency or the coordination office can send, by kind.

A kind is the name of the fact it asks for, as in the envelope's ``payload``
(``progress_reported``, ``evidence_rejected``, …). Each handler takes the loaded
aggregate, the context, the item's plan (whose coordination office and steering
committee review) and the command's plain
arguments, and calls the domain. :func:`run` refuses missing and unknown arguments
first, naming each one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.context import Context
from domain.errors import InvalidValueError, reject_unknown_fields
from domain.indicator import Indicator
from domain.items import ObstacleKind, Quality, TrackedItem
from domain.plan import Plan
from domain.task import Task


class Target(StrEnum):
    TASK = "task"
    INDICATOR = "indicator"
    ITEM = "item"
    PLAN = "plan"


@dataclass(frozen=True)
class Handler:
    target: Target
    run: Callable[[Any, Context, Plan, dict[str, Any]], None]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


def choice(enum: type[StrEnum], value: Any, field: str) -> Any:
    """An enum member from its value, or a field-specific error."""
    allowed = [member.value for member in enum]
    if value not in allowed:
        msg = f"{field} must be one of {', '.join(allowed)}, not {value!r}"
        raise InvalidValueError(msg, field=field)
    return enum(value)


def _claim(item: TrackedItem, ctx: Context, _: Plan, args: dict[str, Any]) -> None:
    item.claim_completion(ctx, evidence=list(args["evidence"]), note=args.get("note", ""))


def _raise(item: TrackedItem, ctx: Context, _: Plan, args: dict[str, Any]) -> None:
    kind = choice(ObstacleKind, args["kind"], "kind")
    item.raise_obstacle(
        ctx, obstacle_id=args["obstacle_id"], kind=kind, description=args["description"]
    )


def _judge(accept: bool) -> Callable[[TrackedItem, Context, Plan, dict[str, Any]], None]:
    def judge(item: TrackedItem, ctx: Context, plan: Plan, args: dict[str, Any]) -> None:
        default = Quality.GOOD.value if accept else Quality.LOW.value
        quality = choice(Quality, args.get("quality") or default, "quality")
        common = {"sha256": args["sha256"], "quality": quality, **_reviewers(plan)}
        if accept:
            item.accept_evidence(ctx, **common, reason=args.get("reason", ""))
        else:
            item.reject_evidence(ctx, **common, reason=args.get("reason", ""))

    return judge


def _reviewers(plan: Plan) -> dict[str, str]:
    """Who judges the plan's items: its coordination office and steering committee."""
    return {"coordinator": plan.coordinator, "steering_committee": plan.steering_committee}


REPORT = ("percent", "as_of")
MEASURE = ("value", "unit")

HANDLERS: dict[str, Handler] = {
    "progress_reported": Handler(
        Target.TASK, lambda t, c, _, a: Task.report_progress(t, c, **a), REPORT, ("note",)
    ),
    "contribution_reported": Handler(
        Target.TASK, lambda t, c, _, a: Task.report_contribution(t, c, **a), REPORT, ("note",)
    ),
    "report_corrected": Handler(
        Target.TASK,
        lambda t, c, _, a: Task.correct_report(t, c, **a),
        ("report_version", "percent", "reason"),
        ("note",),
    ),
    "indicator_measured": Handler(
        Target.INDICATOR,
        lambda i, c, _, a: Indicator.record_measurement(i, c, **a),
        (*MEASURE, "period", "as_of"),
        ("note",),
    ),
    "measurement_corrected": Handler(
        Target.INDICATOR,
        lambda i, c, _, a: Indicator.correct_measurement(i, c, **a),
        ("measurement_version", *MEASURE, "reason"),
    ),
    "evidence_submitted": Handler(Target.ITEM, lambda *_: None),
    "completion_claimed": Handler(Target.ITEM, _claim, ("evidence",), ("note",)),
    "obstacle_raised": Handler(Target.ITEM, _raise, ("obstacle_id", "kind", "description")),
    "obstacle_resolved": Handler(
        Target.ITEM,
        lambda i, c, p, a: TrackedItem.resolve_obstacle(i, c, coordinator=p.coordinator, **a),
        ("obstacle_id", "resolution"),
    ),
    "evidence_accepted": Handler(
        Target.ITEM, _judge(accept=True), ("sha256",), ("quality", "reason")
    ),
    "evidence_rejected": Handler(
        Target.ITEM, _judge(accept=False), ("sha256", "reason"), ("quality",)
    ),
    "completion_confirmed": Handler(
        Target.ITEM,
        lambda i, c, p, a: TrackedItem.confirm_completion(i, c, **_reviewers(p), **a),
        (),
        ("note",),
    ),
    "deadline_changed": Handler(
        Target.TASK,
        lambda t, c, p, a: Task.change_deadline(t, c, coordinator=p.coordinator, **a),
        ("deadline", "reason", "document"),
    ),
    "dependency_declared": Handler(
        Target.PLAN,
        lambda p, c, _, a: Plan.declare_dependency(p, c, **a),
        ("upstream", "downstream", "reason"),
    ),
    "dependency_withdrawn": Handler(
        Target.PLAN,
        lambda p, c, _, a: Plan.withdraw_dependency(p, c, **a),
        ("upstream", "downstream", "reason"),
    ),
}


def handler_for(kind: str) -> Handler:
    handler = HANDLERS.get(kind)
    if handler is None:
        msg = f"unknown command {kind!r}; known: {', '.join(HANDLERS)}"
        raise InvalidValueError(msg, field="payload")
    return handler


def check_arguments(kind: str, args: dict[str, Any]) -> None:
    """Refuse a missing or unknown argument of a command, naming it."""
    handler = handler_for(kind)
    reject_unknown_fields(args, handler.required + handler.optional, kind)
    missing = [name for name in handler.required if name not in args]
    if missing:
        msg = f"{kind} needs {', '.join(missing)}"
        raise InvalidValueError(msg, field=missing[0])


def run(kind: str, aggregate: Any, ctx: Context, plan: Plan, args: dict[str, Any]) -> None:
    check_arguments(kind, args)
    handler_for(kind).run(aggregate, ctx, plan, args)
