"""Answers for the routes a sandbox does not emulate, in the emulated service's own words.

Litestar's routing never backtracks: a request that walks into a static branch of the routing
tree and finds nothing there gets the framework's own 404/405 JSON, which no real service
answers. `register_fallbacks` puts a fallback on every node under an API's top path.
"""

from __future__ import annotations

from collections.abc import Callable

from litestar import Router, route
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

EMULABLE_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
REST_OF_PATH = "{not_emulated:path}"


def register_fallbacks(router: Router, top_path: str, handler: Callable, status_code: int) -> None:
    """Route to `handler` every request under `top_path` (spelled as the routes spell it, path
    parameters included) that no route of `router` serves: the methods a path lacks, every
    path below one that has no parameter to take it, and every path beside those. Call it once
    the router has all its routes."""
    top = tuple(c for c in top_path.split("/") if c)
    nodes: dict[tuple[str, ...], tuple[str, ...]] = {}
    """Each node's shape (parameters as "{}") -> its path components as a route spells them."""
    served: dict[tuple[str, ...], set[str]] = {}
    for each in router.routes:
        components = tuple(c for c in each.path.split("/") if c)
        if not isinstance(each, HTTPRoute) or components[: len(top)] != top:
            continue
        shape = tuple("{}" if c.startswith("{") else c for c in components)
        served.setdefault(shape, set()).update(each.methods)
        nodes[shape] = nodes.get(shape, components)
    for shape, components in list(nodes.items()):
        for depth in range(len(top), len(shape)):
            nodes.setdefault(shape[:depth], components[:depth])
    handlers: list[HTTPRouteHandler] = []
    for shape, components in nodes.items():
        path = "/" + "/".join(components)
        missing = sorted(set(EMULABLE_METHODS) - served.get(shape, set()))
        if missing:
            handlers.append(route(path, http_method=missing, status_code=status_code)(handler))
        if (*shape, "{}") not in nodes:
            below = f"{path}/{REST_OF_PATH}"
            every = list(EMULABLE_METHODS)
            handlers.append(route(below, http_method=every, status_code=status_code)(handler))
    for each_handler in handlers:
        router.register(each_handler)
