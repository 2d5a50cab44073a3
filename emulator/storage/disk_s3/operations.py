"""Which S3 operation a REST request is, named from botocore's S3 model (as moto routes it),
so that what the disk S3 does not implement is answered with the operation's own name."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import botocore.session

# (method, needs a key, query markers, required query names, required header names, name)
_Route = tuple[str, bool, frozenset[str], frozenset[str], frozenset[str], str]


@functools.cache
def _routes() -> list[_Route]:
    """Every non-deprecated S3 operation's HTTP shape (loaded once, on first use)."""
    model = botocore.session.get_session().get_service_model("s3")
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        if operation.deprecated:
            continue
        path, _, query = operation.http["requestUri"].partition("?")
        if not path.startswith("/{Bucket}"):
            continue  # ListBuckets, WriteGetObjectResponse: not on a bucket
        markers = frozenset(q for q in query.split("&") if q and not q.startswith("x-id="))
        queries, headers = set(), set()
        shape = operation.input_shape
        for member in shape.required_members if shape is not None else ():
            where = shape.members[member].serialization
            if where.get("location") == "querystring":
                queries.add(where["name"])
            elif where.get("location") == "header":
                headers.add(where["name"].lower())
        routes.append((operation.http["method"], "{Key+}" in path, markers,
                       frozenset(queries), frozenset(headers), name))
    return routes


def s3_operation(method: str, has_key: bool, args: Mapping[str, str],
                 header_names: Iterable[str]) -> str | None:
    """The operation a request on a bucket (and key) is, or None if it is none of S3's: the
    route whose query markers, required query parameters and headers are all there, the most
    specific of them."""
    explicit = args.get("x-id")  # botocore names it in the query: x-id=PutObject
    if explicit:
        return explicit[:100]
    present = {name.lower() for name in header_names}
    best: tuple[int, str] | None = None
    for verb, needs_key, markers, queries, needed, name in _routes():
        if verb != method or needs_key != has_key:
            continue
        wanted = {m.partition("=")[0]: m.partition("=")[2] for m in markers}
        if any(q not in args or (value and args[q] != value) for q, value in wanted.items()):
            continue
        if any(q not in args for q in queries) or not needed <= present:
            continue
        score = len(markers) + len(queries) + len(needed)
        if best is None or score > best[0]:
            best = (score, name)
    return best[1] if best else None
