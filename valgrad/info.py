"""What the service says about itself and its functions, as frozen dataclasses read from its JSON.

``OpSet`` mirrors ``GET /v1/ops``, ``Health`` ``GET /healthz``, and
``FunctionHandle`` a registered function: the answer to ``POST /v1/functions``
or ``GET /v1/functions/{id}`` (the canonical graph, kept whole as
``function``). A missing field or one of the wrong type is an
``APIResponseError`` that names it by JSON Pointer (RFC 6901); fields the SDK
does not know are ignored, so a newer service can add some.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from valgrad.errors import APIResponseError

__all__ = ["AttrInfo", "FunctionHandle", "Health", "OpInfo", "OpSet"]

_MISSING: Any = object()


class _Reader:
    """Typed fields of one JSON object, each failure an ``APIResponseError`` naming the answer and the field."""

    def __init__(self, obj: Any, answer: str, pointer: str = "") -> None:
        if not isinstance(obj, Mapping):
            raise APIResponseError(f"unexpected answer to {answer}: {pointer or '/'} must be an object, "
                                   f"got {obj!r:.80}")
        self.obj, self.answer, self.pointer = obj, answer, pointer

    def fail(self, key: str, expected: str) -> APIResponseError:
        where = f"{self.pointer}/{key}"
        got = f"got {self.obj[key]!r:.80}" if key in self.obj else "it is missing"
        return APIResponseError(f"unexpected answer to {self.answer}: {where} must be {expected}, {got}")

    def get(self, key: str, kind: type | tuple[type, ...], expected: str, default: Any = _MISSING) -> Any:
        value = self.obj.get(key, default)
        if value is _MISSING or not isinstance(value, kind) or (type(value) is bool and kind is int):
            raise self.fail(key, expected)
        return value

    def integer(self, key: str) -> int:
        value: int = self.get(key, int, "an integer")
        return value

    def string(self, key: str, default: Any = _MISSING) -> str:
        value: str = self.get(key, str, "a string", default)
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, "a list of strings")
        if not all(isinstance(v, str) for v in values):
            raise self.fail(key, "a list of strings")
        return tuple(values)

    def objects(self, key: str) -> Iterator[_Reader]:
        """A list of objects, each as a reader of its own."""
        values = self.get(key, list, "a list")
        return (_Reader(v, self.answer, f"{self.pointer}/{key}/{i}") for i, v in enumerate(values))


@dataclass(frozen=True)
class Health:
    """The liveness answer: ``status`` is ``"ok"`` while the process serves requests."""

    status: str

    @classmethod
    def from_json(cls, obj: Any, answer: str = "GET /healthz") -> Health:
        return cls(_Reader(obj, answer).string("status"))


@dataclass(frozen=True)
class AttrInfo:
    """One static attribute of an op: NumPy's keyword name, and its default unless ``required``."""

    name: str
    required: bool
    default: Any = None
    doc: str = ""


@dataclass(frozen=True)
class OpInfo:
    """One op: its name and aliases, the opset that introduced it, its arity, attributes and gradient convention."""

    name: str
    opset: int
    aliases: tuple[str, ...]
    min_args: int
    max_args: int | None  # None: any number of arguments
    attrs: tuple[AttrInfo, ...]
    doc: str

    @classmethod
    def read(cls, r: _Reader) -> OpInfo:
        attrs = tuple(AttrInfo(a.string("name"), a.get("required", bool, "a boolean"), a.obj.get("default"),
                               a.string("doc", "")) for a in r.objects("attrs"))
        max_args = None if r.obj.get("max_args", _MISSING) is None else r.integer("max_args")
        return cls(r.string("name"), r.integer("opset"), r.strings("aliases"), r.integer("min_args"), max_args, attrs,
                   r.string("doc"))


@dataclass(frozen=True)
class OpSet:
    """The op set a function may use; ``"tanh" in ops`` and ``ops["abs"]`` look an op up by name or alias."""

    opset: int  # the newest opset, used when a function names none
    ops: tuple[OpInfo, ...]
    _by_name: Mapping[str, OpInfo] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {alias: op for op in self.ops for alias in op.aliases}
        by_name.update((op.name, op) for op in self.ops)
        object.__setattr__(self, "_by_name", by_name)

    @classmethod
    def from_json(cls, obj: Any, answer: str = "GET /v1/ops") -> OpSet:
        r = _Reader(obj, answer)
        return cls(r.integer("opset"), tuple(OpInfo.read(op) for op in r.objects("ops")))

    def __getitem__(self, name: str) -> OpInfo:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[OpInfo]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)


@dataclass(frozen=True)
class FunctionHandle:
    """A function the service holds under ``id``; ``function`` (its JSON) is resent to a replica that lacks it.

    ``inputs`` are the parameter names in order; ``outputs`` is one output id, or a tuple of ids for a
    list output. ``client.value_and_gradients(handle, args)`` evaluates it by id.
    """

    id: str
    inputs: tuple[str, ...]
    outputs: str | tuple[str, ...]
    opset: int
    function: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_answer(cls, answer: Any, function: Mapping[str, Any]) -> FunctionHandle:
        """The handle for the service's answer to ``POST /v1/functions`` about ``function``."""
        r = _Reader(answer, "POST /v1/functions")
        return cls(r.string("id"), r.strings("inputs"), _outputs(r), r.integer("opset"), function)

    @classmethod
    def from_graph(cls, function_id: str, graph: Any) -> FunctionHandle:
        """The handle for ``GET /v1/functions/{id}``'s answer: the canonical graph, inputs named or described."""
        r = _Reader(graph, f"GET /v1/functions/{function_id}")
        inputs = r.get("inputs", list, "a list of input names or {name, dtype, shape} objects")
        names = tuple(i if isinstance(i, str) else _Reader(i, r.answer, f"/inputs/{n}").string("name")
                      for n, i in enumerate(inputs))
        r.get("nodes", list, "a list of nodes")
        return cls(function_id, names, _outputs(r), r.integer("opset"), graph)


def _outputs(r: _Reader) -> str | tuple[str, ...]:
    return r.string("outputs") if isinstance(r.obj.get("outputs"), str) else r.strings("outputs")
