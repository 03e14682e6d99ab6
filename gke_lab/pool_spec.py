"""A lab pool as data: ready, verified labs kept warm so that a person claims one in seconds.

A pool names a blueprint (a saved LabSpec) plus overrides, the projects its labs are spread over, how many
ready labs it keeps (`hot_size`), how many it may ever hold (`max_size`), how long a claimed lab lives
(`ttl_hours`, counted from the claim), how long an unclaimed lab may wait (`idle_ttl_hours`), who may
claim, and optionally a class: seats ready before a start time, unclaimed seats reaped a grace period after
it, everything gone at the end. The `LabPool` block (blocks/pool.py) stores one of these under its name.

Every field is checked here, before anything is created; errors name the field path.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from gke_lab.overrides import parse_override
from gke_lab.spec import LabSpec, SpecError, _check_project_id, dotted

# A pool's labs are named `<pool>-<6 hex>`: with a pool name of at most 20 characters the lab name stays
# within the 30 characters a chat command accepts, and its derived resource names within GKE's limits.
POOL_NAME = re.compile(r"[a-z]([-a-z0-9]{0,18}[a-z0-9])?")
MAX_POOL_SIZE = 100
MAX_CLAIM_TTL_HOURS = 24 * 7
# Who may claim: a Google account or group e-mail, `domain:example.com`, or `*` (anyone the chat allows).
CLAIMER = re.compile(
    r"\*|domain:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?|[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}"
)
# A saved LabBlueprint block's name (Prefect block names: lowercase letters, digits and '-').
BLUEPRINT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# What a pool decides for each of its labs: an override may not set these (gke_lab.pools.lab_overrides).
POOL_CHOSEN = ("lab", "project_id", "pool", "ttl_hours")


class PoolSpecError(SpecError):
    """A pool that cannot be used: a SpecError (every face renders those: exit 2 naming each field)."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__(problems)
        self.args = ("invalid pool spec:\n" + "\n".join(f"  {p}: {m}" for p, m in problems),)


def _problem(problem: str, accepted: str) -> PydanticCustomError:
    return PydanticCustomError(
        "pool_spec", "{problem} (accepted: {accepted})", {"problem": problem, "accepted": accepted}
    )


def _check_pool_name(value: str) -> str:
    if not POOL_NAME.fullmatch(value):
        raise _problem(
            f"{value!r} is not a pool name",
            "1-20 characters: lowercase letters, digits and '-', starting with a letter, not ending with '-'",
        )
    return value


def _check_claimer(value: str) -> str:
    if not CLAIMER.fullmatch(value):
        raise _problem(f"{value!r} is not a claimer", "an e-mail address, `domain:example.com` or `*`")
    return value


def _check_blueprint(value: str) -> str:
    if not BLUEPRINT_NAME.fullmatch(value):
        raise _problem(
            f"{value!r} is not a blueprint name",
            "the name of a saved LabBlueprint block: 1-63 lowercase letters, digits and '-'",
        )
    return value


def _check_override(value: str) -> str:
    """Parsed exactly like `--set` (gke_lab.overrides), every segment a LabSpec field; refused when it
    sets what the pool chooses for each lab."""
    try:
        parts, _ = parse_override(value)
    except SpecError as exc:
        where, message = exc.problems[0]
        raise _problem(f"{where}: {message}", "PATH=VALUE, e.g. cluster.num_nodes=2") from None
    if parts[0] in POOL_CHOSEN:
        raise _problem(
            f"{value!r} sets {parts[0]}, which the pool chooses for each of its labs",
            "overrides of any other LabSpec field (the pool sets " + ", ".join(POOL_CHOSEN) + ")",
        )
    model: Any = LabSpec
    for depth, part in enumerate(parts):
        if model is None:
            break  # inside a list or a plain value: the blueprint's data decides
        if part not in model.model_fields:
            where = ".".join(parts[: depth + 1])
            raise _problem(f"{where}: unknown field {part!r}", "the fields " + ", ".join(model.model_fields))
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return value


PoolName = Annotated[str, AfterValidator(_check_pool_name)]


class ClassSchedule(BaseModel):
    """A class: `seats` labs ready before `start`, unclaimed ones reaped `grace_minutes` after it, all
    gone at `end`."""

    model_config = ConfigDict(extra="forbid")

    seats: StrictInt = Field(ge=1, le=MAX_POOL_SIZE, description="Labs to have ready by the start.")
    start: datetime = Field(description="When the class starts (with a time zone).")
    end: datetime = Field(description="When the class ends: every lab of the pool is torn down then.")
    grace_minutes: StrictInt = Field(
        30, ge=0, le=24 * 60, description="Unclaimed labs are reaped this long after the start."
    )

    @field_validator("start", "end")
    @classmethod
    def _zoned(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise _problem(
                f"{value.isoformat()} has no time zone", "a time with zone, e.g. 2026-12-04T09:00:00Z"
            )
        return value

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if isinstance(start, datetime) and value <= start:
            raise _problem(f"{value.isoformat()} is not after the start", f"a time after {start.isoformat()}")
        return value


class PoolSpec(BaseModel):
    """A pool of ready gke-lab labs."""

    model_config = ConfigDict(extra="forbid", title="PoolSpec")

    name: PoolName = Field(description="Pool name; its labs are named <name>-<6 hex>.")
    blueprint: Annotated[str, AfterValidator(_check_blueprint)] = Field(
        "small-zonal", description="The LabBlueprint block its labs are made from."
    )
    overrides: list[Annotated[str, AfterValidator(_check_override)]] = Field(
        default_factory=list,
        description="PATH=VALUE changes on top of the blueprint (not lab, project_id, pool, ttl_hours).",
    )
    projects: list[Annotated[str, AfterValidator(_check_project_id)]] = Field(
        min_length=1, description="Projects to spread the labs over."
    )
    hot_size: StrictInt = Field(2, ge=0, le=MAX_POOL_SIZE, description="Ready labs kept waiting.")
    max_size: StrictInt = Field(
        4, ge=1, le=MAX_POOL_SIZE, description="Most labs the pool holds at once (ready, in flight, claimed)."
    )
    ttl_hours: StrictFloat = Field(
        4, gt=0, le=MAX_CLAIM_TTL_HOURS, allow_inf_nan=False, description="A claimed lab lives this long."
    )
    idle_ttl_hours: StrictFloat = Field(
        8,
        gt=0,
        le=MAX_CLAIM_TTL_HOURS,
        allow_inf_nan=False,
        description="An unclaimed lab is reaped after this.",
    )
    claimers: list[Annotated[str, AfterValidator(_check_claimer)]] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        description="Who may claim: e-mails, domain:NAME, or * for anyone.",
    )
    class_schedule: ClassSchedule | None = Field(None, description="Seats, start and end of a class.")

    @model_validator(mode="wrap")
    @classmethod
    def _across_fields(cls, data: Any, handler: Any) -> PoolSpec:
        # Each refusal carries the path of the field it is about, like LabSpec's cross-field rules, and they
        # are judged also when some fields failed (on the values that can be read), so one refusal lists
        # every problem that can be seen.
        try:
            spec: PoolSpec = handler(data)
        except ValidationError as exc:
            if not isinstance(data, dict):
                raise
            failed = [tuple(e["loc"]) for e in exc.errors()]
            extra = [d for d in _cross_problems(data) if tuple(d["loc"]) not in failed]
            if not extra:
                raise
            details = [_redetail(e) for e in exc.errors()] + extra
            raise ValidationError.from_exception_data(cls.__name__, details) from None
        details = _cross_problems(spec.model_dump())
        if details:
            raise ValidationError.from_exception_data(cls.__name__, details)
        return spec

    @classmethod
    def from_data(cls, data: Any) -> PoolSpec:
        """A validated pool from a mapping; raises PoolSpecError (a SpecError) naming every bad field."""
        if not isinstance(data, dict):
            raise PoolSpecError([("(pool)", f"expected a mapping of fields, got {type(data).__name__}")])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                message = error["msg"]
                if error["type"] == "extra_forbidden":
                    message += " (accepted: the fields " + ", ".join(_fields_at(tuple(error["loc"]))) + ")"
                problems.append((dotted(tuple(error["loc"])), message))
            raise PoolSpecError(problems) from None


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _cross_problems(data: dict[str, Any]) -> list[InitErrorDetails]:
    """Rules across fields, on a document (values of the wrong type are left to their own errors)."""
    details: list[InitErrorDetails] = []

    def refuse(loc: tuple[Any, ...], value: Any, problem: str, accepted: str) -> None:
        details.append(InitErrorDetails(type=_problem(problem, accepted), loc=loc, input=value))

    fields = PoolSpec.model_fields
    hot = _size(data.get("hot_size", fields["hot_size"].default))
    most = _size(data.get("max_size", fields["max_size"].default))
    if hot is not None and most is not None and hot > most:
        refuse(("hot_size",), hot, "exceeds max_size", f"at most max_size ({most})")
    projects = data.get("projects")
    if isinstance(projects, list):
        seen: set[str] = set()
        for index, project in enumerate(projects):
            if isinstance(project, str) and project in seen:
                refuse(("projects", index), project, f"{project!r} is listed twice", "each project once")
            seen.add(project if isinstance(project, str) else "")
    schedule = data.get("class_schedule")
    seats = _size(schedule.get("seats")) if isinstance(schedule, dict) else None
    if seats is not None and most is not None and seats > most:
        refuse(("class_schedule", "seats"), seats, "exceeds max_size", f"at most max_size ({most})")
    return details


def _redetail(error: Any) -> InitErrorDetails:
    """An error of a failed validation, re-usable in a new ValidationError with the same message."""
    if error["type"] == "pool_spec":
        kind: Any = PydanticCustomError("pool_spec", "{problem} (accepted: {accepted})", error["ctx"])
    else:
        kind = PydanticCustomError(error["type"], "{msg}", {"msg": error["msg"]})
    return InitErrorDetails(type=kind, loc=tuple(error["loc"]), input=error.get("input"))


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = ClassSchedule if loc[:1] == ("class_schedule",) else PoolSpec
    return list(model.model_fields)
