"""Request and response envelopes: pydantic models that check the envelope's keys and document the API.

What a field accepts is a real type, and that type is what the OpenAPI document shows: ``Tensor``,
``Params``, ``Function`` and ``InputSpec`` are named type aliases (one schema component each, which
the others ``$ref``), and ids, dtypes, ranks, the envelope version and the op sets come from the
engine's constants. Request fields holding tensors, params or a function are not walked by
pydantic, though: the codec decodes each tensor with one NumPy call and the engine checks params
and functions with pointers into them. Such a field is validated as ``Any`` (``TensorArg``,
``ParamsArg``, ``FunctionArg``): measured, a seed request's envelope validates within 0.1 µs of the
bare ``Any`` fields these replaced, where the aliases themselves would add about 0.2 µs a use.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PlainValidator, SkipValidation, WithJsonSchema
from typing_extensions import TypeAliasType

from engine import (
    FLOAT_DTYPES,
    FUNCTION_ID_PATTERN,
    ID_PATTERN,
    MAX_RANK,
    NEWEST_OPSET,
    NONFINITE,
    OPSETS,
    VERSION,
)

__all__ = [
    "FUNCTION_ID_PATTERN", "AbstractTensor", "BinaryTensor", "EvaluateRequest", "Function", "FunctionArg",
    "FunctionInfo", "GraphFunction", "Health", "OpSet", "Params", "ParamsArg", "Problem", "RegisterRequest", "Tensor",
    "TensorArg", "TensorsArg", "ValueAndGradientsRequest", "ValueAndGradientsResponse",
]

Dtype = Annotated[str, WithJsonSchema({"type": "string", "enum": list(FLOAT_DTYPES)})]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
NonFinite = Annotated[str, WithJsonSchema({"type": "string", "enum": list(NONFINITE)})]
Version = Annotated[int, Field(json_schema_extra={"enum": [VERSION]})]
Opset = Annotated[int, Field(json_schema_extra={"enum": list(OPSETS)})]


class BinaryTensor(BaseModel):
    """Raw little-endian bytes in base64 (RFC 4648, padded); in an application/msgpack body, data is a bin of
    those bytes instead. Sizes are checked before decoding."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "example": {"dtype": "float64", "shape": [2], "data": "AAAAAAAAAEAAAAAAAAAIQA=="}})

    dtype: Dtype
    shape: list[NonNegativeInt] = Field(max_length=MAX_RANK)
    data: str = Field(json_schema_extra={"contentEncoding": "base64"})


Tensor = TypeAliasType("Tensor", Annotated[
    float | NonFinite | list[Any] | BinaryTensor,
    Field(description='A number, a rectangular nested list of numbers (non-finite values as the strings "NaN", '
                      '"Infinity", "-Infinity"), or a binary tensor. Numbers become float64.')])
Params = TypeAliasType("Params", Annotated[
    list[str] | list[int] | str | int | None,
    Field(description="Which arguments to differentiate: input names, or integer indices (negative counts from "
                      "the end), or one of either; null means every input. Names and integers may not mix.")])


class NamedInput(BaseModel):
    """An input with an optional dtype and shape (null: any size)."""

    name: Id
    dtype: Dtype | None = None
    shape: list[int | None] | None = None


InputSpec = TypeAliasType("InputSpec", Annotated[
    Id | NamedInput, Field(description="An input name, or a name with an optional dtype and shape.")])


class Node(BaseModel):
    """One op applied to earlier values."""

    id: Id
    op: str = Field(description="an op name or alias from GET /v1/ops")
    args: list[Any] = Field(description='ids of inputs or earlier nodes, or constants (numbers, nested lists, '
                                        'binary tensors, {"value": ...})')
    attrs: dict[str, Any] = Field(default_factory=dict,
                                  description="the op's static attributes (NumPy keyword names)")


class GraphFunction(BaseModel):
    """A JSON graph: inputs, then nodes that refer only to inputs and earlier nodes, then the outputs."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "version": VERSION, "opset": 1, "inputs": ["x", "y"],
        "nodes": [{"id": "a", "op": "multiply", "args": ["x", "y"]},
                  {"id": "s", "op": "sum", "args": ["a"], "attrs": {"axis": None}}],
        "outputs": "s"}})

    version: Version = VERSION
    opset: Opset = NEWEST_OPSET
    inputs: list[InputSpec]
    nodes: list[Node]
    outputs: str | Annotated[list[str], Field(min_length=1)] = Field(
        description="a node or input id (one output) or a list of ids (a list output)")


class ExpressionFunction(BaseModel):
    """A text expression over named inputs."""

    model_config = ConfigDict(json_schema_extra={"example": {"inputs": ["x", "y"], "expression": "x*x*x*y - x*y*y"}})

    version: Version = VERSION
    opset: Opset = NEWEST_OPSET
    inputs: list[InputSpec]
    expression: str | list[str] = Field(
        description="Python-syntax expression (or a list of them: a list output) over the inputs: numbers, "
                    "+ - * / ** @, unary minus, comparisons, calls of ops with keyword attributes, subscripts.")


Function = TypeAliasType("Function", Annotated[
    ExpressionFunction | GraphFunction,
    Field(description="A JSON graph or a text expression over named inputs; GET /v1/ops lists the ops and their "
                      "attributes.")])


def _as_sent(value: Any) -> Any:
    return value


def _an_object(function: Any) -> Any:
    """The engine checks the function; the envelope only needs it to be an object (a 422 otherwise)."""
    if not isinstance(function, dict):
        raise ValueError("the function must be an object")
    return function


# Request fields, validated as Any and documented as their type. A tensor field is skipped outright
# (SkipValidation); params and the function, used once per model, go through a validator whose
# json_schema_input_type keeps them named components (skipped, pydantic would inline them).
TensorArg = Annotated[Tensor, SkipValidation]
TensorsArg = Annotated[Tensor | list[Tensor], SkipValidation]  # one per param, or a bare one for one param
ParamsArg = Annotated[Any, PlainValidator(_as_sent, json_schema_input_type=Params)]
FunctionArg = Annotated[Any, PlainValidator(_an_object, json_schema_input_type=Function)]


class AbstractTensor(BaseModel):
    """A tensor's shape and dtype, without data."""

    model_config = ConfigDict(json_schema_extra={"example": {"dtype": "float64", "shape": [3]}})

    dtype: Dtype = FLOAT_DTYPES[0]
    shape: list[NonNegativeInt]


class EvaluateRequest(BaseModel):
    """Arguments for a function the server already holds."""

    model_config = ConfigDict(extra="forbid")

    args: list[TensorArg] | dict[str, TensorArg] = Field(
        description="one tensor per input: a list (by position) or an object (by input name)")
    params: ParamsArg = Field(default=None, description="what to differentiate; default every input")
    dy: Annotated[Tensor | None, SkipValidation] = Field(
        default=None, description="cotangent of the output (a list of them for a list output): weights the sum; "
                                  "default ones")
    unconnected_gradients: Literal["none", "zero"] = Field(
        default="none", description="gradient of an input the output does not depend on: null (TF) or zeros (JAX)")
    encoding: Literal["list", "base64"] | None = Field(
        default=None,
        description="tensor encoding of the response; default: base64 if any argument was binary, else list")


class ValueAndGradientsRequest(EvaluateRequest):
    """A function and its arguments in one request."""

    function: FunctionArg = Field(description="a JSON graph or a text expression; cached under its content address")


class RegisterRequest(BaseModel):
    """A function to hold in the server's cache."""

    model_config = ConfigDict(extra="forbid")

    function: FunctionArg = Field(description="a JSON graph or a text expression")


class ValueAndGradientsResponse(BaseModel):
    """The function's value and one gradient per param, in the order of ``params``."""

    value: Tensor = Field(description="the value (a list of tensors for a list output)")
    gradients: list[Tensor | None] = Field(
        description="one per param, shaped like its argument; null where the output does not depend on it")
    params: list[str] = Field(description="the names of the differentiated inputs, in order")


class FunctionInfo(BaseModel):
    """What the server holds under a function id."""

    id: str = Field(description="sha256:<hex> of the canonical function", pattern=FUNCTION_ID_PATTERN)
    inputs: list[str] = Field(description="input names, in order")
    outputs: str | list[str] = Field(description="output id, or a list of ids for a list output")
    opset: Opset = Field(description="op set version the function was written against")


class AttrInfo(BaseModel):
    name: str
    required: bool
    default: Any = None
    doc: str = ""


class OpInfo(BaseModel):
    name: str
    opset: Opset = Field(description="the op set that introduced the op")
    aliases: list[str]
    min_args: int
    max_args: int | None = Field(description="null: any number of arguments")
    attrs: list[AttrInfo]
    doc: str = Field(description="what the op computes and its gradient convention at kinks")


class OpSet(BaseModel):
    """The op set a function may use."""

    opset: Opset
    ops: list[OpInfo]


class Health(BaseModel):
    status: Literal["ok", "ready"]


class Problem(BaseModel):
    """An RFC 9457 problem: every error the service returns has this shape."""

    type: str = Field(description="urn:valgrad:problem:<code>")
    title: str
    status: int
    detail: str = Field(description="what went wrong and how to fix it")
    code: str = Field(description="stable machine-readable code, e.g. invalid_params, unknown_function")
    pointer: str | None = Field(
        default=None, description="JSON Pointer (RFC 6901) to the offending field of the request")
