"""Envelopes of Version 2's endpoints: derivative kinds, abstract evaluation, gradient checks, batches.

Each registered variant (``/v1/functions/{id}/...``) takes a body; its one-shot twin is the same body
plus ``function`` (``one_shot`` derives it, so the two never drift apart). As in ``app.schemas``, tensor,
params and function fields validate as ``Any`` and document as their type, and a batch's requests are
checked one by one by the service, not by pydantic, so one malformed item never fails the others.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, create_model
from typing_extensions import TypeAliasType

from app.schemas import AbstractTensor, FunctionArg, Params, ParamsArg, Tensor, TensorArg, TensorsArg

__all__ = [
    "EXAMPLES", "MODELS", "REQUESTS", "AbstractEvalOfFunctionRequest", "BatchOfFunctionRequest",
    "CheckGradientsOfFunctionRequest", "DerivativeOfFunctionRequest", "HvpOfFunctionRequest", "JvpOfFunctionRequest",
    "one_shot",
]

Unconnected = Literal["none", "zero"]
AbstractArg = Annotated[AbstractTensor, SkipValidation]  # the engine checks each one, pointing into it


class DerivativeOfFunctionRequest(BaseModel):
    """Arguments of a Jacobian or Hessian of a function the server holds."""

    model_config = ConfigDict(extra="forbid")

    args: list[TensorArg] | dict[str, TensorArg] = Field(
        description="one tensor per input: a list (by position) or an object (by input name)")
    params: ParamsArg = Field(default=None, description="what to differentiate; default all")
    unconnected_gradients: Unconnected = Field(
        default="none", description="blocks of an input the output does not depend on: null (TF) or zeros")
    encoding: Literal["list", "base64"] | None = Field(
        default=None, description="tensor encoding of the response; default: base64 if any argument was binary")


class JvpOfFunctionRequest(DerivativeOfFunctionRequest):
    """Arguments and tangents of a JVP."""

    tangents: TensorsArg = Field(description="one tensor per param, in params' order, each of its param's shape "
                                             "or broadcastable to it; a single param takes a bare one")


class HvpOfFunctionRequest(DerivativeOfFunctionRequest):
    """Arguments and vectors of a Hessian-vector product."""

    vectors: TensorsArg = Field(description="one tensor per param, in params' order (as tangents)")


class AbstractEvalOfFunctionRequest(BaseModel):
    """Shapes and dtypes of the arguments, no data."""

    model_config = ConfigDict(extra="forbid")

    args: list[AbstractArg] | dict[str, AbstractArg] = Field(
        description='one {"dtype", "shape"} per input, by position or by input name')
    params: ParamsArg = Field(default=None, description="what to differentiate; default all")


class CheckGradientsOfFunctionRequest(BaseModel):
    """A point at which to compare reverse-mode gradients with central differences."""

    model_config = ConfigDict(extra="forbid")

    args: list[TensorArg] | dict[str, TensorArg] = Field(description="one tensor per input")
    params: ParamsArg = Field(default=None, description="what to check; default all")
    eps: float = Field(default=1e-6, gt=0, strict=True, description="central-difference step")
    rtol: float = Field(default=1e-5, ge=0, strict=True, description="relative tolerance")
    atol: float = Field(default=1e-6, ge=0, strict=True, description="absolute tolerance")
    directions: int = Field(default=2, ge=1, le=64, strict=True, description="random directions per param (seeded)")


class _BatchItem(BaseModel):
    """One evaluation of a batch: its arguments, and optionally its own params and dy."""

    model_config = ConfigDict(title="BatchItem")

    args: list[Tensor] | dict[str, Tensor] = Field(description="one tensor per input: a list or an object by "
                                                               "input name")
    params: Params = None
    dy: Tensor | None = None


# The service checks each item itself and answers a bad one in place; the alias keeps the item a component.
BatchItem = TypeAliasType("BatchItem", Annotated[_BatchItem, SkipValidation])


class BatchOfFunctionRequest(BaseModel):
    """Many evaluations of one function: admitted or refused together, failing one by one."""

    model_config = ConfigDict(extra="forbid")

    params: ParamsArg = Field(default=None, description="default params of every item")
    requests: list[BatchItem] = Field(description="the evaluations, answered in order")
    unconnected_gradients: Unconnected = Field(default="none", description="as for value-and-gradients")
    encoding: Literal["list", "base64"] | None = Field(default=None, description="tensor encoding of the response")


def one_shot(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` plus the ``function`` field: the body of the one-shot path."""
    made: type[BaseModel] = create_model(name, __base__=model, __doc__=f"{model.__doc__} With the function.",
                                         function=(FunctionArg, Field(description="a JSON graph or a text expression; "
                                                                               "cached under its content address")))
    return made


# -- responses (for the schema only: the service writes bodies with orjson) ----------------------------------


class ValueAndJvpResponse(BaseModel):
    value: Tensor = Field(description="the value (a list for a list output)")
    jvp: Tensor = Field(description="J . tangents, with value's structure")
    params: list[str]


class ValueAndJacobianResponse(BaseModel):
    value: Tensor
    jacobian: list[Any] = Field(description="per param, output.shape + param.shape (per output for a list output)")
    params: list[str]


class HessianResponse(BaseModel):
    value: Tensor
    gradients: list[Tensor | None]
    hessian: list[list[Tensor | None]] = Field(description="hessian[i][j]: param_i.shape + param_j.shape")
    params: list[str]


class HvpResponse(BaseModel):
    value: Tensor
    gradients: list[Tensor | None]
    hvp: list[Tensor | None] = Field(description="hvp[i] = sum_j H_ij . v_j, of param_i's shape")
    params: list[str]


class Cost(BaseModel):
    flops: int
    elements: int
    bytes: int


class AbstractValue(BaseModel):
    """An output's shape and dtype: a float dtype, or bool (comparisons) or int64 (argmax and the like)."""

    dtype: str
    shape: list[int]


class AbstractEvalResponse(BaseModel):
    outputs: list[AbstractValue]
    gradients: list[AbstractTensor]
    params: list[str]
    cost: Cost = Field(description="the static estimate of one value-and-gradients evaluation")


class CheckGradientsResponse(BaseModel):
    ok: bool
    params: list[str]
    max_abs_error: list[float | str] = Field(description="per param (\"Infinity\" where a side is not finite)")
    max_rel_error: list[float | str]
    directions: int


class BatchResponse(BaseModel):
    results: list[Any] = Field(description="per request, in order: {value, gradients, params} or "
                                           "{error: <problem object>}")


_ONE_SHOT = {name: one_shot(model, name) for name, model in (
    ("ValueAndJvpRequest", JvpOfFunctionRequest), ("ValueAndJacobianRequest", DerivativeOfFunctionRequest),
    ("HessianRequest", DerivativeOfFunctionRequest), ("HvpRequest", HvpOfFunctionRequest),
    ("AbstractEvalRequest", AbstractEvalOfFunctionRequest), ("CheckGradientsRequest", CheckGradientsOfFunctionRequest),
    ("BatchRequest", BatchOfFunctionRequest))}

# path -> (registered body, one-shot body, response): the routes and the service read this one table
MODELS: dict[str, tuple[type[BaseModel], type[BaseModel], type[BaseModel]]] = {
    "value-and-jvp": (JvpOfFunctionRequest, _ONE_SHOT["ValueAndJvpRequest"], ValueAndJvpResponse),
    "value-and-jacobian": (DerivativeOfFunctionRequest, _ONE_SHOT["ValueAndJacobianRequest"],
                           ValueAndJacobianResponse),
    "hessian": (DerivativeOfFunctionRequest, _ONE_SHOT["HessianRequest"], HessianResponse),
    "hvp": (HvpOfFunctionRequest, _ONE_SHOT["HvpRequest"], HvpResponse),
    "abstract-eval": (AbstractEvalOfFunctionRequest, _ONE_SHOT["AbstractEvalRequest"], AbstractEvalResponse),
    "check-gradients": (CheckGradientsOfFunctionRequest, _ONE_SHOT["CheckGradientsRequest"],
                        CheckGradientsResponse),
    "batch/value-and-gradients": (BatchOfFunctionRequest, _ONE_SHOT["BatchRequest"], BatchResponse),
}
REQUESTS: tuple[type[BaseModel], ...] = tuple(dict.fromkeys(m for r, o, _ in MODELS.values() for m in (r, o)))


# -- OpenAPI examples: "Try it out" answers the *_response example -------------------------------------------
# The registered variants' examples are for TF's seed, the function the documented function_id names.

_SEED = {"inputs": ["x", "y"], "expression": "x*x*x*y - x*y*y"}
_NET = {"inputs": ["w", "x"], "expression": "sum(tanh(x @ w))"}
_BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "jvp": ("TF's seed at (2, 3) along (1, 0): the partial derivative in x", {"args": [2, 3], "tangents": [1, 0]}),
    "jacobian": ("the seed's Jacobian: one block per param", {"args": [2, 3]}),
    "hessian": ("the seed's Hessian at (2, 3)", {"args": [2, 3]}),
    "hvp": ("the seed's Hessian times (1, 0)", {"args": [2, 3], "vectors": [1, 0]}),
    "abstract_eval": ("shapes and cost of sum(tanh(x @ w)) for x 2x3, w 3, without data", {
        "args": [{"dtype": "float64", "shape": [3]}, {"dtype": "float64", "shape": [2, 3]}], "params": ["w"]}),
    "check": ("check the seed's gradients at (2, 3)", {"args": [2, 3]}),
    "batch": ("three points; the third has a missing argument and fails alone", {
        "requests": [{"args": [2, 3]}, {"args": [1, 2], "params": ["y"]}, {"args": [1]}]}),
}
_FUNCTIONS = {"abstract_eval": _NET}
_ANSWERS: dict[str, Any] = {
    "jvp": {"value": 6.0, "jvp": 27.0, "params": ["x", "y"]},
    "jacobian": {"value": 6.0, "jacobian": [27.0, -4.0], "params": ["x", "y"]},
    "hessian": {"value": 6.0, "gradients": [27.0, -4.0], "hessian": [[36.0, 6.0], [6.0, -4.0]],
                "params": ["x", "y"]},
    "hvp": {"value": 6.0, "gradients": [27.0, -4.0], "hvp": [36.0, 6.0], "params": ["x", "y"]},
    "abstract_eval": {"outputs": [{"dtype": "float64", "shape": []}],
                      "gradients": [{"dtype": "float64", "shape": [3]}], "params": ["w"],
                      "cost": {"flops": 768, "elements": 26, "bytes": 208}},
    "check": {"ok": True, "params": ["x", "y"], "max_abs_error": [4.4e-10, 6.5e-11],
              "max_rel_error": [9.9e-10, 4.3e-10], "directions": 2},
    "batch": {"results": [
        {"value": 6.0, "gradients": [27.0, -4.0], "params": ["x", "y"]},
        {"value": -2.0, "gradients": [-3.0], "params": ["y"]},
        {"error": {"type": "urn:valgrad:problem:invalid_args", "title": "Invalid arguments", "status": 422,
                   "detail": "the function takes 2 argument(s) (x, y), got 1", "code": "invalid_args",
                   "pointer": "/requests/2/args"}}]},
}
_SCALAR = {"dtype": "float64", "shape": []}
_REGISTERED: dict[str, tuple[str, dict[str, Any], Any]] = {  # where the seed needs its own body and answer
    "abstract_eval": ("shapes and cost of the seed at two scalars, without data", {"args": [_SCALAR, _SCALAR]}, {
        "outputs": [_SCALAR], "gradients": [_SCALAR, _SCALAR], "params": ["x", "y"],
        "cost": {"flops": 288, "elements": 10, "bytes": 80}}),
}
EXAMPLES: dict[str, dict[str, Any]] = {}
for _name, (_summary, _body) in _BODIES.items():
    _r_summary, _r_body, _r_answer = _REGISTERED.get(_name, (_summary, _body, _ANSWERS[_name]))
    EXAMPLES[_name] = {"summary": _summary, "value": {"function": _FUNCTIONS.get(_name, _SEED), **_body}}
    EXAMPLES[_name + "_response"] = {"summary": "the answer", "value": _ANSWERS[_name]}
    EXAMPLES[_name + "_registered"] = {"summary": _r_summary + " (the function registered)", "value": _r_body}
    EXAMPLES[_name + "_registered_response"] = {"summary": "the answer", "value": _r_answer}
