"""Request and response envelopes: pydantic models that validate keys and drive the OpenAPI schema.

Tensor-valued fields (``args``, ``dy``, the function itself) are typed ``Any``
so pydantic never walks their elements: the codec decodes each tensor with one
NumPy call. For the schema they carry a marker, ``{"x-ref": "Tensor"}``, that
``app.openapi`` turns into a ``$ref`` to a component described here by hand
(pydantic cannot refer to schemas it does not generate).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

__all__ = [
    "COMPONENTS",
    "EvaluateRequest",
    "FunctionInfo",
    "Health",
    "OpSet",
    "Problem",
    "RegisterRequest",
    "ValueAndGradientsRequest",
    "ValueAndGradientsResponse",
]


def ref(component: str) -> WithJsonSchema:
    """Mark a field as documented by ``#/components/schemas/<component>``."""
    return WithJsonSchema({"x-ref": component})


Tensor = Annotated[Any, ref("Tensor")]
# null where the contract allows it: a dy left out, a gradient of an input the output does not reach.
OptionalTensor = Annotated[Any, WithJsonSchema({"anyOf": [{"x-ref": "Tensor"}, {"type": "null"}]})]
_NONFINITE = {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}

# Hand-written components: what the codec and the graph parser accept, for readers of the schema.
COMPONENTS: dict[str, dict[str, Any]] = {
    "Tensor": {
        "title": "Tensor",
        "description": 'A number, a rectangular nested list of numbers (non-finite values as the strings "NaN", '
                       '"Infinity", "-Infinity"), or a binary tensor. Numbers become float64.',
        "anyOf": [{"type": "number"}, _NONFINITE, {"type": "array", "items": {}},
                  {"$ref": "#/components/schemas/BinaryTensor"}],
    },
    "BinaryTensor": {
        "title": "BinaryTensor",
        "description": "Raw little-endian bytes in base64 (RFC 4648, padded); in an application/msgpack body, "
                       "data is a bin of those bytes instead. Sizes are checked before decoding.",
        "type": "object",
        "required": ["dtype", "shape", "data"],
        "additionalProperties": False,
        "properties": {
            "dtype": {"type": "string", "enum": ["float64", "float32"]},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "maxItems": 32},
            "data": {"type": "string", "contentEncoding": "base64"},
        },
        "example": {"dtype": "float64", "shape": [2], "data": "AAAAAAAAAEAAAAAAAAAIQA=="},
    },
    "Function": {
        "title": "Function",
        "description": "A JSON graph (version 1) or a text expression over named inputs; "
                       "GET /v1/ops lists the ops and their attributes.",
        "anyOf": [{"$ref": "#/components/schemas/ExpressionFunction"}, {"$ref": "#/components/schemas/GraphFunction"}],
    },
    "ExpressionFunction": {
        "title": "ExpressionFunction",
        "type": "object",
        "required": ["inputs", "expression"],
        "properties": {
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/InputSpec"}},
            "expression": {"description": "Python-syntax expression (or a list of them: a list output) over the "
                                          "inputs: numbers, + - * / ** @, unary minus, comparisons, calls of ops "
                                          "with keyword attributes, subscripts.",
                           "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        },
        "example": {"inputs": ["x", "y"], "expression": "x*x*x*y - x*y*y"},
    },
    "GraphFunction": {
        "title": "GraphFunction",
        "type": "object",
        "required": ["inputs", "nodes", "outputs"],
        "properties": {
            "version": {"type": "integer", "enum": [1], "default": 1},
            "opset": {"type": "integer", "default": 1},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/InputSpec"}},
            "nodes": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            "outputs": {"description": "a node or input id (one output) or a list of ids (a list output)",
                        "anyOf": [{"type": "string"},
                                  {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        },
        "example": {"version": 1, "opset": 1, "inputs": ["x", "y"],
                    "nodes": [{"id": "a", "op": "multiply", "args": ["x", "y"]},
                              {"id": "s", "op": "sum", "args": ["a"], "attrs": {"axis": None}}],
                    "outputs": "s"},
    },
    "InputSpec": {
        "title": "InputSpec",
        "description": "An input name, or a name with an optional dtype and shape (null: any size).",
        "anyOf": [
            {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "dtype": {"anyOf": [{"type": "string", "enum": ["float64", "float32"]}, {"type": "null"}]},
                "shape": {"anyOf": [{"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
                                    {"type": "null"}]}}},
        ],
    },
    "Node": {
        "title": "Node",
        "type": "object",
        "required": ["id", "op", "args"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            "op": {"type": "string", "description": "an op name or alias from GET /v1/ops"},
            "args": {"type": "array", "description": "ids of inputs or earlier nodes, or constants "
                                                      '(numbers, nested lists, binary tensors, {"value": ...})',
                     "items": {}},
            "attrs": {"type": "object", "description": "the op's static attributes (NumPy keyword names)"},
        },
    },
    "Params": {
        "title": "Params",
        "description": "Which arguments to differentiate: input names, or integer indices (negative counts from "
                       "the end), or one of either; null means every input. Names and integers may not mix.",
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "array", "items": {"type": "integer"}},
                  {"type": "string"}, {"type": "integer"}, {"type": "null"}],
    },
}


class EvaluateRequest(BaseModel):
    """Arguments for a function the server already holds."""

    model_config = ConfigDict(extra="forbid", title="EvaluateRequest")

    args: list[Tensor] | dict[str, Tensor] = Field(
        description="one tensor per input: a list (by position) or an object (by input name)")
    params: Annotated[Any, ref("Params")] = Field(
        default=None, description="what to differentiate; default every input")
    dy: OptionalTensor = Field(
        default=None, description="cotangent of the output (a list of them for a list output): weights the sum; "
                          "default ones")
    unconnected_gradients: Literal["none", "zero"] = Field(
        default="none", description="gradient of an input the output does not depend on: null (TF) or zeros (JAX)")
    encoding: Literal["list", "base64"] | None = Field(
        default=None,
        description="tensor encoding of the response; default: base64 if any argument was binary, else list")


class ValueAndGradientsRequest(EvaluateRequest):
    """A function and its arguments in one request."""

    model_config = ConfigDict(extra="forbid", title="ValueAndGradientsRequest")

    function: Annotated[dict[str, Any], ref("Function")] = Field(
        description="a JSON graph or a text expression; cached under its content address")


class RegisterRequest(BaseModel):
    """A function to hold in the server's cache."""

    model_config = ConfigDict(extra="forbid", title="RegisterRequest")

    function: Annotated[dict[str, Any], ref("Function")] = Field(description="a JSON graph or a text expression")


class ValueAndGradientsResponse(BaseModel):
    """The function's value and one gradient per param, in the order of ``params``."""

    value: Annotated[Any, ref("Tensor")] = Field(description="the value (a list of tensors for a list output)")
    gradients: list[OptionalTensor] = Field(
        description="one per param, shaped like its argument; null where the output does not depend on it")
    params: list[str] = Field(description="the names of the differentiated inputs, in order")


class FunctionInfo(BaseModel):
    """What the server holds under a function id."""

    id: str = Field(description="sha256:<hex> of the canonical function", pattern=r"^sha256:[0-9a-f]{64}$")
    inputs: list[str] = Field(description="input names, in order")
    outputs: str | list[str] = Field(description="output id, or a list of ids for a list output")
    opset: int = Field(description="op set version the function was written against")


class AttrInfo(BaseModel):
    name: str
    required: bool
    default: Any = None
    doc: str = ""


class OpInfo(BaseModel):
    name: str
    aliases: list[str]
    min_args: int
    max_args: int | None = Field(description="null: any number of arguments")
    attrs: list[AttrInfo]
    doc: str = Field(description="what the op computes and its gradient convention at kinks")


class OpSet(BaseModel):
    """The op set a function may use."""

    opset: int
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
