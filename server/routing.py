"""Route declarations: one decorator carries the path, minimum role, models and docs.

Why a declaration instead of bare ``app.router.add_get``: the same facts drive four things
that must never disagree — the router, the role check (``server.middlewares``), request
parsing, and the OpenAPI document (``server.openapi``). Every route must state its minimum
role (``role=None`` means public, on purpose): forgetting is a TypeError, not an open door.

A route module looks like this::

    from aiohttp import web
    from switchboard.server.routing import RouteTable
    from switchboard.server import contract, convert
    from switchboard.server.jsonio import StrictModel, QueryModel

    routes = RouteTable(tag="tasks")

    class CreateTask(StrictModel):
        type: str
        priority: Literal["P0", "P1", "P2", "P3"] = "P2"

    @routes.post("/tasks", role="agent", body=CreateTask, response=contract.TaskEnvelope,
                 status=201, summary="Create a task")
    async def create_task(request: web.Request, body: CreateTask) -> contract.TaskEnvelope:
        engine = request.app[ENGINE_KEY]            # the engine's own AppKey
        task = await engine.tasks.create(...)       # engine errors map to 404/409/400
        data = convert.task(task, now)              # engine record -> wire record
        return contract.TaskEnvelope(task_id=task.id, task=data, data=data)  # 201

    class ListQuery(QueryModel):
        page: int = Field(1, ge=1)
        status: list[str] | None = None

    @routes.get("/tasks", role="user", query=ListQuery)
    async def list_tasks(request: web.Request, query: ListQuery) -> web.Response:
        ...

Handlers receive the request plus the parsed ``body``/``query``/``path`` keyword arguments
for the models they declared. They return a ``web.StreamResponse`` (used as is) or the
``server.contract`` Struct named by ``response=`` (any JSON-encodable value works), sent
with the declared ``status``. Requests are pydantic models (strict validation at the edge);
responses are contract Structs, the one definition the OpenAPI document and the SDK share.
Paths are relative to ``/api/v1``; ``also_at_root=True`` serves the
route at the root too (``GET /health``, ``GET /stats``). Mount tables with
``server.app.init_app(config, tables=[routes, ...])``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, get_args, get_origin

import msgspec
from aiohttp import web
from pydantic import BaseModel

from switchboard.server import API_BASE
from switchboard.server.auth import ROLE_RANK, Role
from switchboard.server.jsonio import json_response, parse_path, parse_query, read_json

Handler = Callable[..., Awaitable[Any]]
H = TypeVar("H", bound=Handler)

SPEC_ATTRIBUTE: Final = "__route_spec__"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """Everything known about one operation. Built by ``RouteTable.route``."""

    method: str
    path: str
    handler: Handler
    role: Role | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    media_type: str = "application/json"
    summary: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    also_at_root: bool = False
    root_only: bool = False
    operation_id: str = ""
    responses: Mapping[int, str] = field(default_factory=dict)
    deprecated: bool = False
    base: str | None = None
    """Mounted at ``base + path`` only (a dialect: ``/v1``, or ``""`` for the root);
    None: under the registry's base (``/api/v1``), plus the root if asked."""

    @property
    def public(self) -> bool:
        return self.role is None

    @property
    def path_names(self) -> tuple[str, ...]:
        """Names of the ``{placeholders}`` in ``path``, in order."""
        return tuple(_PARAM.findall(self.path))

    @property
    def openapi_path(self) -> str:
        """``/tasks/{task_id:\\w+}`` -> ``/tasks/{task_id}`` (regexes are aiohttp-only)."""
        return _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)


class RouteTable:
    """The routes of one resource module. ``tag`` groups them in the OpenAPI document."""

    def __init__(self, tag: str | None = None, *, base: str | None = None) -> None:
        self.tag = tag
        self.base = base
        self._specs: list[RouteSpec] = []

    def __iter__(self) -> Iterator[RouteSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def route(
        self,
        method: str,
        path: str,
        *,
        role: Role | None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        path_params: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        media_type: str = "application/json",
        summary: str | None = None,
        tags: tuple[str, ...] | None = None,
        also_at_root: bool = False,
        root_only: bool = False,
        operation_id: str | None = None,
        responses: Mapping[int, str] | None = None,
        deprecated: bool = False,
    ) -> Callable[[H], H]:
        """Declare ``method path`` handled by the decorated coroutine.

        ``role``: minimum role (``"user"``, ``"agent"``, ``"admin"``) or None for public.
        ``body``/``query``/``path_params``: pydantic models parsed before the handler runs
        and passed as ``body=``, ``query=``, ``path=``. ``response`` (a ``server.contract``
        Struct type), ``status`` and ``media_type`` document (and, for non-Response return
        values, produce) the success response; for ``text/event-stream`` routes ``response``
        describes one frame.
        ``responses`` documents extra statuses (``{409: "already decided"}``). The summary
        defaults to the docstring's first line, the description to the rest of it.
        """
        method = method.upper()
        if role is not None and role not in ROLE_RANK:
            raise ValueError(f"{method} {path}: role must be admin, agent, user or None")
        if not path.startswith("/"):
            raise ValueError(f"{method} {path}: path must start with '/'")
        if response is not None and not _is_record_type(response):
            raise TypeError(f"{method} {path}: response must be a msgspec Struct type, or a "
                            "list of one (a server.contract record)")

        def decorator(handler: H) -> H:
            if not inspect.iscoroutinefunction(handler):
                raise TypeError(f"{method} {path}: handler must be 'async def'")
            doc = inspect.getdoc(handler) or ""
            first, _, rest = doc.partition("\n")
            spec = RouteSpec(
                method=method,
                path=path,
                handler=handler,
                role=role,
                body=body,
                query=query,
                path_params=path_params,
                response=response,
                status=status,
                media_type=media_type,
                summary=summary if summary is not None else first.strip(),
                description=rest.strip(),
                tags=tags if tags is not None else ((self.tag,) if self.tag else ()),
                also_at_root=also_at_root,
                root_only=root_only,
                operation_id=operation_id or handler.__name__,
                responses=dict(responses or {}),
                deprecated=deprecated,
                base=self.base,
            )
            self._specs.append(spec)
            return handler

        return decorator

    def add(self, spec: RouteSpec) -> None:
        """Add a spec built elsewhere (a dialect serving a canonical route at its own base:
        ``dataclasses.replace(spec, base="/v1", operation_id=...)``)."""
        self._specs.append(spec)

    def get(self, path: str, **kwargs: Any) -> Callable[[H], H]:
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[H], H]:
        return self.route("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[H], H]:
        return self.route("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[H], H]:
        return self.route("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[H], H]:
        return self.route("DELETE", path, **kwargs)


def _is_record_type(value: Any) -> bool:
    """A Struct type, or ``list[StructType]`` (a bare JSON array of records)."""
    if get_origin(value) is list:
        (value,) = get_args(value)
    return isinstance(value, type) and issubclass(value, msgspec.Struct)


def make_endpoint(spec: RouteSpec) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for a spec: parses declared inputs, calls, encodes the result."""
    handler = spec.handler

    async def endpoint(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = {}
        if spec.path_params is not None:
            kwargs["path"] = parse_path(request, spec.path_params)
        if spec.query is not None:
            kwargs["query"] = parse_query(request, spec.query)
        if spec.body is not None:
            kwargs["body"] = await read_json(request, spec.body)
        result = await handler(request, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None and spec.status == 204:
            return web.Response(status=204)
        return json_response(result, spec.status)

    endpoint.__name__ = handler.__name__
    endpoint.__qualname__ = handler.__qualname__
    endpoint.__doc__ = handler.__doc__
    setattr(endpoint, SPEC_ATTRIBUTE, spec)
    return endpoint


def spec_of(handler: Any) -> RouteSpec | None:
    """The RouteSpec behind a mounted handler (``request.match_info.handler``), if any."""
    return getattr(handler, SPEC_ATTRIBUTE, None)


class RouteRegistry:
    """All mounted specs of one app: the source of truth for the OpenAPI document."""

    def __init__(self, base: str = API_BASE) -> None:
        self.base = base
        self._specs: list[RouteSpec] = []
        self._operation_ids: set[str] = set()

    def __iter__(self) -> Iterator[RouteSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def mount(self, router: web.UrlDispatcher, *tables: RouteTable) -> None:
        """Add every spec of ``tables`` to ``router`` under the base (and root if asked).

        Raises ValueError on a duplicated operation id (they name OpenAPI operations and
        aiohttp routes, so they must be unique across the app).
        """
        for table in tables:
            for spec in table:
                if spec.operation_id in self._operation_ids:
                    raise ValueError(
                        f"{spec.method} {spec.path}: operation id {spec.operation_id!r} is "
                        "already used; pass operation_id=... to the route decorator"
                    )
                self._operation_ids.add(spec.operation_id)
                endpoint = make_endpoint(spec)
                if spec.base is not None:
                    router.add_route(spec.method, spec.base + spec.path, endpoint,
                                     name=spec.operation_id)
                    self._specs.append(spec)
                    continue
                if not spec.root_only:
                    router.add_route(
                        spec.method, self.base + spec.path, endpoint, name=spec.operation_id
                    )
                if spec.also_at_root or spec.root_only:
                    router.add_route(
                        spec.method, spec.path, endpoint, name=f"{spec.operation_id}.root"
                    )
                self._specs.append(spec)

    def paths(self) -> set[tuple[str, str]]:
        """Every (method, full path) mounted, root aliases included; for coverage checks."""
        out: set[tuple[str, str]] = set()
        for spec in self._specs:
            if spec.base is not None:
                out.add((spec.method, spec.base + spec.openapi_path))
                continue
            if not spec.root_only:
                out.add((spec.method, self.base + spec.openapi_path))
            if spec.also_at_root or spec.root_only:
                out.add((spec.method, spec.openapi_path))
        return out
