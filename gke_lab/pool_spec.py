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
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

# A pool's labs are named `<pool>-<6 hex>`: with a pool name of at most 20 characters the lab name stays
# within the 30 characters a chat command accepts, and its derived resource names within GKE's limits.
POOL_NAME = re.compile(r"[a-z]([-a-z0-9]{0,18}[a-z0-9])?")
MAX_POOL_SIZE = 100
MAX_CLAIM_TTL_HOURS = 24 * 7
# Who may claim: a Google account or group e-mail, `domain:example.com`, or `*` (anyone the chat allows).
CLAIMER = re.compile(
    r"\*|domain:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?|[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}"
)


def _check_pool_name(value: str) -> str:
    if not POOL_NAME.fullmatch(value):
        raise ValueError(
            "1-20 characters: lowercase letters, digits and '-', starting with a letter, not ending with '-'"
        )
    return value


def _check_claimer(value: str) -> str:
    if not CLAIMER.fullmatch(value):
        raise ValueError("an e-mail address, `domain:example.com` or `*`")
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

    @model_validator(mode="after")
    def _ordered(self) -> ClassSchedule:
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name}: give a time zone, e.g. 2026-12-04T09:00:00Z")
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        return self


class PoolSpec(BaseModel):
    """A pool of ready gke-lab labs."""

    model_config = ConfigDict(extra="forbid", title="PoolSpec")

    name: PoolName = Field(description="Pool name; its labs are named <name>-<6 hex>.")
    blueprint: str = Field("small-zonal", description="The LabBlueprint block its labs are made from.")
    overrides: list[str] = Field(
        default_factory=list, description="PATH=VALUE changes on top of the blueprint (not lab, project_id)."
    )
    projects: list[str] = Field(min_length=1, description="Projects to spread the labs over.")
    hot_size: StrictInt = Field(2, ge=0, le=MAX_POOL_SIZE, description="Ready labs kept waiting.")
    max_size: StrictInt = Field(
        4, ge=1, le=MAX_POOL_SIZE, description="Most labs the pool holds at once (ready, in flight, claimed)."
    )
    ttl_hours: float = Field(
        4, gt=0, le=MAX_CLAIM_TTL_HOURS, allow_inf_nan=False, description="A claimed lab lives this long."
    )
    idle_ttl_hours: float = Field(
        8,
        gt=0,
        le=MAX_CLAIM_TTL_HOURS,
        allow_inf_nan=False,
        description="An unclaimed lab is reaped after this.",
    )
    claimers: list[Annotated[str, AfterValidator(_check_claimer)]] = Field(
        default_factory=lambda: ["*"], description="Who may claim: e-mails, domain:NAME, or * for anyone."
    )
    class_schedule: ClassSchedule | None = Field(None, description="Seats, start and end of a class.")

    @model_validator(mode="after")
    def _sizes(self) -> PoolSpec:
        if self.hot_size > self.max_size:
            raise ValueError("hot_size: must not exceed max_size")
        if self.class_schedule is not None and self.class_schedule.seats > self.max_size:
            raise ValueError("class_schedule.seats: must not exceed max_size")
        return self
