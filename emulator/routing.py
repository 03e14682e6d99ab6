"""Routes as data: each service declares (method, path template, handler); one router matches them.

A handler is called with the resolved project and the template's other `{placeholders}` as keyword arguments,
plus `query`, `body` and `caller` (who sent the request, emulator/tokens.py) when its signature names them. A
route names the IAM permission a named user needs for it (the operator's calls keep their older model); a
route without one refuses named users, so the emulator is never more lenient than Google. The binding is
checked when the router is built, so a route whose template and handler disagree fails at start-up, not on the
first request."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from emulator.store import Project

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_OPTIONAL_INPUTS = ("query", "body", "caller")


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # after the service's prefix; "{name}" matches one path segment (no "/" or ":")
    handler: Callable[..., Any]
    # reachable while the service is disabled (a project can always be read and enable its services)
    always_on: bool = False
    # the IAM permission a named user needs on the project ("" for none: named users are refused; "*" for a
    # method every caller may call, such as testIamPermissions)
    permission: str = ""


@dataclass(frozen=True)
class ServiceRoutes:
    """One service's routes: the API name that faults and the request log use, and a shared prefix."""

    api: str
    prefix: str
    routes: tuple[Route, ...]
    # the service name the project must have enabled (Service Usage), "" for none
    service: str = ""


@dataclass(frozen=True)
class _Compiled:
    api: str
    service: str  # "" when the route answers whether or not its service is enabled
    method: str
    regex: re.Pattern[str]
    route: Route
    inputs: tuple[str, ...]  # which of query/body/caller the handler takes


@dataclass(frozen=True)
class Match:
    api: str
    compiled: _Compiled
    params: dict[str, str]

    @property
    def service(self) -> str:
        return self.compiled.service

    @property
    def permission(self) -> str:
        return self.compiled.route.permission

    def call(self, project: Project | None, query: dict[str, str], body: Any, caller: Any = None) -> Any:
        kwargs: dict[str, Any] = {k: v for k, v in self.params.items() if k != "project"}
        given = {"query": query, "body": body, "caller": caller}
        kwargs.update({name: given[name] for name in self.compiled.inputs})
        return self.compiled.route.handler(project, **kwargs)


def _compile(api: str, prefix: str, route: Route, service: str = "") -> _Compiled:
    template = prefix + route.template
    placeholders = _PLACEHOLDER.findall(template)
    signature = inspect.signature(route.handler).parameters
    parameters = list(signature)
    wanted = [p for p in placeholders if p != "project"] + [p for p in _OPTIONAL_INPUTS if p in signature]
    # parameters the template does not fill must have defaults (e.g. an operation's region or zone)
    unfilled = [
        p for p in parameters[1:] if p not in wanted and signature[p].default is inspect.Parameter.empty
    ]
    missing = [p for p in wanted if p not in signature]
    # a template without {project} (Service Usage's operations/{id}) still hands the handler project=None
    if parameters[:1] != ["project"] or unfilled or missing:
        raise TypeError(
            f"route {route.method} {template}: handler {route.handler.__qualname__}{tuple(parameters)} "
            f"does not take (project, {', '.join(wanted)})"
        )
    regex = re.compile("^" + _PLACEHOLDER.sub(r"(?P<\1>[^/:]+)", template) + "$")
    inputs = tuple(p for p in _OPTIONAL_INPUTS if p in signature)
    return _Compiled(api, "" if route.always_on else service, route.method, regex, route, inputs)


class Router:
    def __init__(self, services: Iterable[ServiceRoutes]) -> None:
        self._routes = [_compile(s.api, s.prefix, r, s.service) for s in services for r in s.routes]

    def match(self, method: str, path: str) -> Match | None:
        for compiled in self._routes:
            if compiled.method != method:
                continue
            hit = compiled.regex.match(path)
            if hit:
                return Match(compiled.api, compiled, hit.groupdict())
        return None
