"""Text functions: ``{"inputs": ["x", "y"], "expression": "x**3*y - x*y**2"}`` into a JSON graph.

The text is parsed by Python's ``ast`` in "eval" mode (one expression, no
statements) and translated node by node under a whitelist: numbers, input
names, ``pi`` and ``e``, ``+ - * / ** @``, unary ``-``/``+``, one comparison,
calls of registered ops (``linalg.inv`` is the only dotted form) with literal
keyword attributes, and subscripts with literal indices. Nothing is evaluated,
compiled or folded — ``9**9**9**9`` becomes power nodes — except that a sign
in front of a number literal belongs to the literal. Length is checked before
parsing, the parser's own depth failures become ``ExpressionError``s, and the
translation is an iterative walk with a depth limit. Errors point at
``/expression`` (or ``/expression/i``) and name the construct and its column
(1-based, in characters).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from engine.builder import GraphBuilder, check_header, input_slots, parse_inputs
from engine.codec import decode_constant
from engine.errors import (
    ArityError,
    AttrError,
    EngineError,
    ExpressionError,
    GraphError,
    TooLargeError,
    join_pointer,
)
from engine.ir import NEWEST_OPSET, VERSION, Graph, Input, fresh_prefix
from engine.limits import DEFAULT_LIMITS, Limits
from engine.literals import UnplacedError, index_item, literal, number, tensor_literal
from engine.pyops import PYTHON_OPERATORS
from engine.registry import ALIASES, OPS, Op, lookup

__all__ = ["load_expression", "parse_expression"]

_SYMBOL: dict[type[ast.AST], str] = {
    ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not",
    ast.Invert: "~", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
    **{py.node: py.symbol for py in PYTHON_OPERATORS.values()},
}
_CONSTRUCT = {
    ast.Attribute: "attribute access", ast.Lambda: "a lambda", ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension", ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string", ast.FormattedValue: "an f-string", ast.Starred: "a starred argument",
    ast.IfExp: "a conditional expression (use where(cond, x, y))", ast.BoolOp: "and/or",
    ast.NamedExpr: "an assignment expression (:=)", ast.Dict: "a dict", ast.Set: "a set", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "a slice outside of a subscript",
}
_NAMED = {"pi": math.pi, "e": math.e}
_LONG_NUMBER = re.compile(r"\d[\d_]{400,}")


def _reject(node: ast.AST, what: str = "") -> UnplacedError:
    name = what or _CONSTRUCT.get(type(node), f"'{type(node).__name__}'")
    return UnplacedError(ExpressionError, f"{name} is not allowed", node)


def _op_name(func: ast.expr) -> str:
    """The op a call names: a plain name, or a dotted name that is itself registered (``linalg.inv``)."""
    parts: list[str] = []
    head = func
    while isinstance(head, ast.Attribute):
        parts.append(head.attr)
        head = head.value
    if not isinstance(head, ast.Name):
        raise _reject(head, _CONSTRUCT.get(type(head), "calling anything but an op name"))
    name = ".".join([head.id, *reversed(parts)])
    if parts and name not in OPS and name not in ALIASES:
        hint = f"; write {parts[0]}(...)" if parts[0] in OPS or parts[0] in ALIASES else ""
        raise _reject(func, f"attribute access ({name[:60]}{hint})")
    return name


def _operators() -> dict[type[ast.AST], str]:
    """Python operator syntax -> op name, from each op's ``operators`` (the registry is the one source)."""
    return {PYTHON_OPERATORS[stem].node: op.name for op in OPS.values() for stem in op.operators}


def _multi_result(op: Op) -> bool:
    return op.results != 1


def _call_parts(op: Op, node: ast.Call) -> tuple[list[ast.expr], list[ast.expr]]:
    """A call's tensor operands and its positional attributes, as NumPy spells them.

    ``sum(x, 0)`` passes axis positionally, ``stack([x, y], 1)`` takes its operands as one list and
    ``einsum("ij,jk", x, y)`` its subscripts first; positional attributes follow the op's attribute order.
    """
    args = node.args[1:] if _subscripts_first(op, node) else list(node.args)
    high = op.arity[1]
    if high is None and args and isinstance(args[0], ast.List | ast.Tuple):
        return list(args[0].elts), args[1:]
    if high is None or not any(a.name != "output" for a in op.attrs):
        return args, []  # too many operands is an arity error, reported as one
    return args[:high], args[high:]


def _subscripts_first(op: Op, node: ast.Call) -> bool:
    """``einsum("ij,jk->ik", x, y)``: NumPy's leading subscripts string becomes the attribute."""
    first = node.args[0] if node.args else None
    return "subscripts" in op.attr_index and isinstance(first, ast.Constant) and isinstance(first.value, str)


class _Emitted(NamedTuple):
    """One translated node, checked: its op, arguments (ids or literal constants), attributes as written,
    their binding, and the expression it came from (``/expression`` or ``/expression/k``)."""

    nid: str
    op: Op
    args: list[Any]
    attrs: dict[str, Any] | None
    bound: tuple[dict[str, Any], dict[str, Any]]
    pointer: str


class _Translator:
    """Turns expression trees into checked graph nodes, one per operator, in post-order."""

    def __init__(self, names: list[str], limits: Limits) -> None:
        self.names = set(names)
        self.limits = limits
        self.prefix = fresh_prefix(names, "t")
        self.nodes: list[_Emitted] = []
        self.ops: dict[str, Op] = {}
        self.operators = _operators()
        self.pointer = "/expression"

    def emit(self, op: str, args: list[Any], attrs: dict[str, Any] | None, node: ast.AST) -> str:
        found = self.op(op, node)
        msg = found.check_arity(len(args))
        if msg:
            hint = f"; pass {', '.join(a.name for a in found.attrs)} as keywords" if found.attrs else ""
            raise UnplacedError(ArityError, msg + hint, node)
        try:
            bound = found.bind(attrs or {})
        except AttrError as e:
            raise UnplacedError(AttrError, e.message, node) from None
        if len(self.nodes) >= self.limits.max_nodes:
            raise UnplacedError(TooLargeError, f"the expression makes more than {self.limits.max_nodes} nodes", node)
        nid = f"{self.prefix}{len(self.nodes)}"
        self.nodes.append(_Emitted(nid, found, args, attrs, bound, self.pointer))
        return nid

    def op(self, name: str, node: ast.AST) -> Op:
        if name not in self.ops:
            try:
                self.ops[name] = lookup(name)
            except EngineError as e:  # calling a non-op is a construct outside the whitelist
                msg = f"calling '{name[:60]}' is not allowed: {e.message}"
                raise UnplacedError(ExpressionError, msg, node) from None
        return self.ops[name]

    def leaf(self, node: ast.expr) -> tuple[bool, Any]:
        """(True, value) for names and literals, (False, None) for operators."""
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return True, node.id
            if node.id in _NAMED:
                return True, _NAMED[node.id]
            listed = ", ".join(sorted(self.names)[:10]) or "none"
            msg = f"unknown name '{node.id[:60]}' (inputs: {listed}; constants: pi, e)"
            raise UnplacedError(ExpressionError, msg, node)
        if isinstance(node, ast.Constant):
            value = number(node)
            if value is None:
                raise _reject(node, f"the literal {node.value!r:.40} as a tensor")
            return True, float(value)
        if isinstance(node, ast.List | ast.Tuple | ast.UnaryOp):
            value = tensor_literal(node)
            if value is not None:
                if isinstance(value, list):  # ragged or oversized lists fail here, with a column
                    try:
                        decode_constant(value, "", limits=self.limits)
                    except EngineError as e:
                        raise UnplacedError(type(e), f"constant list: {e.message}", node) from None
                return True, value
        return False, None

    def children(self, node: ast.expr) -> list[ast.expr]:
        """The tensor operands of an operator node, after checking the node is allowed."""
        if isinstance(node, ast.BinOp | ast.UnaryOp | ast.Compare):
            op = node.ops[0] if isinstance(node, ast.Compare) else node.op
            if type(op) not in self.operators and not isinstance(op, ast.UAdd):
                raise _reject(node, f"the operator {_SYMBOL.get(type(op), type(op).__name__)}")
            if isinstance(node, ast.Compare):
                if len(node.ops) > 1:
                    raise _reject(node, "a chained comparison such as a < b < c (compare two operands at a time)")
                return [node.left, node.comparators[0]]
            return [node.left, node.right] if isinstance(node, ast.BinOp) else [node.operand]
        if isinstance(node, ast.Call):
            callee = self.op(_op_name(node.func), node.func)
            if _multi_result(callee):
                raise _reject(node, f"a call of {callee.name}, which has several results, without picking one "
                                    f"(write {callee.name}(...)[0])")
            return self.operands(callee, node)
        if isinstance(node, ast.Attribute) and node.attr == "T":  # M.T, as in NumPy
            return [node.value]
        if isinstance(node, ast.Subscript):
            call = node.value
            if isinstance(call, ast.Call) and _multi_result(self.op(_op_name(call.func), call.func)):
                return self.operands(self.op(_op_name(call.func), call.func), call)  # linalg.eigh(x)[1]
            return [node.value]
        if isinstance(node, ast.List | ast.Tuple):
            raise _reject(node, "a list of tensors (only op calls such as stack([x, y]) take one; "
                                "give several outputs as a list of expressions)")
        raise _reject(node)

    def operands(self, op: Op, node: ast.Call) -> list[ast.expr]:
        operands, _ = _call_parts(op, node)
        for a in [*node.args, *node.keywords]:
            if isinstance(a, ast.Starred) or (isinstance(a, ast.keyword) and a.arg is None):
                raise _reject(a, "unpacking (*args, **kwargs)")
        return operands

    def call_attrs(self, op: Op, node: ast.Call) -> dict[str, Any]:
        """Keyword and positional attributes of a call, by the op's attribute names."""
        attrs: dict[str, Any] = {}
        if _subscripts_first(op, node):
            attrs["subscripts"] = literal(node.args[0])
        free = [a.name for a in op.attrs if a.name not in attrs and a.name != "output"]
        positional = _call_parts(op, node)[1]
        if len(positional) > len(free):
            raise UnplacedError(ExpressionError, f"{op.name} takes at most {len(free)} positional attribute(s) "
                                 f"({', '.join(free) or 'none'})", positional[len(free)])
        for name, value in zip(free, positional, strict=False):
            attrs[name] = literal(value)
        for kw in node.keywords:
            if kw.arg in attrs:
                raise UnplacedError(ExpressionError, f"keyword '{kw.arg}' given twice", kw.value)
            attrs[str(kw.arg)] = literal(kw.value)
        return attrs

    def result(self, node: ast.Subscript, call: ast.Call, args: list[Any]) -> str:
        """``linalg.eigh(x)[1]``: the call's node for one of its results (``output``)."""
        op = self.op(_op_name(call.func), call.func)
        attrs = self.call_attrs(op, call)
        k = number(node.slice)
        if not isinstance(k, int):
            raise UnplacedError(ExpressionError, f"pick a result of {op.name} with an integer literal", node.slice)
        try:
            n = op.n_results(op.bind(attrs)[1])
        except AttrError as e:
            raise UnplacedError(AttrError, e.message, call) from None
        if not -n <= k < n:
            raise UnplacedError(ExpressionError, f"{op.name} has {n} results; index {k} is out of range", node)
        return self.emit(op.name, args, {**attrs, "output": k % n}, node)

    def build(self, node: ast.expr, args: list[Any]) -> Any:
        if isinstance(node, ast.BinOp | ast.Compare):
            symbol = node.ops[0] if isinstance(node, ast.Compare) else node.op
            return self.emit(self.operators[type(symbol)], args, None, node)
        if isinstance(node, ast.UnaryOp):
            return args[0] if isinstance(node.op, ast.UAdd) else self.emit(
                self.operators[type(node.op)], args, None, node)
        if isinstance(node, ast.Call):
            op = self.op(_op_name(node.func), node.func)
            return self.emit(op.name, args, self.call_attrs(op, node), node)
        if isinstance(node, ast.Attribute):
            return self.emit("transpose", args, None, node)
        assert isinstance(node, ast.Subscript)
        if isinstance(node.value, ast.Call) and _multi_result(self.op(_op_name(node.value.func), node.value.func)):
            return self.result(node, node.value, args)
        index = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return self.emit("getitem", args, {"index": [index_item(i) for i in index]}, node)

    def translate(self, root: ast.expr) -> Any:
        """Post-order over an explicit stack, so depth costs no Python recursion."""
        results: dict[int, Any] = {}
        stack: list[tuple[ast.expr, int, list[ast.expr] | None]] = [(root, 1, None)]
        while stack:
            node, depth, kids = stack.pop()
            if kids is None:
                if depth > self.limits.max_expression_depth:
                    msg = f"expression is nested deeper than {self.limits.max_expression_depth} levels"
                    raise UnplacedError(ExpressionError, msg, node)
                done, value = self.leaf(node)
                if done:
                    results[id(node)] = value
                    continue
                kids = self.children(node)
                stack.append((node, depth, kids))
                stack.extend((k, depth + 1, None) for k in reversed(kids))
            else:
                results[id(node)] = self.build(node, [results.pop(id(k)) for k in kids])
        return results[id(root)]


def _column(text: str, node: ast.AST | None) -> str:
    lineno = getattr(node, "lineno", None)
    offset = getattr(node, "col_offset", None)
    if lineno is None or offset is None:
        return ""
    line = text.splitlines()[lineno - 1] if text.splitlines() else ""
    col = len(line.encode("utf-8")[:offset].decode("utf-8", errors="ignore")) + 1  # col_offset counts bytes
    snippet = (ast.get_source_segment(text, node) or "") if node is not None else ""
    shown = f" '{snippet[:40]}'" if snippet and len(snippet) <= 40 else ""
    return f" at {'line ' + str(lineno) + ', ' if lineno > 1 else ''}column {col}{shown}"


def _parse_one(text: Any, pointer: str, tr: _Translator) -> str:
    """One expression as the id of its output node (or input); columns count from its first non-blank."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("an expression is a non-empty string", pointer)
    long = _LONG_NUMBER.search(text)
    if long:
        raise ExpressionError(f"a number literal of more than 400 digits at column {long.start() + 1}", pointer)
    src = text.strip()
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:  # some (a NUL character, on Python 3.11) come without a position
        where = f" (column {e.offset})" if e.offset is not None else ""
        raise ExpressionError(f"invalid syntax: {e.msg}{where}", pointer) from None
    except (RecursionError, MemoryError):
        raise ExpressionError("expression is nested too deeply to parse", pointer) from None
    except ValueError as e:  # e.g. a NUL character
        raise ExpressionError(f"invalid expression: {e}", pointer) from None
    try:
        out = tr.translate(tree.body)
        # A constant output still needs a node: multiply by 1.0 keeps -0.0, NaN and the dtype.
        return out if isinstance(out, str) else tr.emit("multiply", [out, 1.0], None, tree.body)
    except UnplacedError as f:
        raise f.cls(f.message + _column(src, f.node), pointer) from None


def _translate(obj: Any, limits: Limits) -> tuple[list[Input], _Translator, list[str], bool]:
    """Inputs, the translated nodes, the output ids and whether the outputs are a list."""
    if not isinstance(obj, Mapping):
        raise GraphError('a text function is an object {"inputs": [...], "expression": "..."}', "")
    for key in obj:
        if key not in ("inputs", "expression", "version", "opset"):
            raise GraphError(f"unknown key {str(key)[:40]!r} in a text function "
                             "(allowed: inputs, expression, version, opset)", join_pointer(str(key)))
    inputs = parse_inputs(obj.get("inputs"), limits)
    expression = obj.get("expression")
    texts = expression if isinstance(expression, list) else [expression]
    if not texts:
        raise ExpressionError("give at least one expression", "/expression")
    total = sum(len(t) for t in texts if isinstance(t, str))
    if total > limits.max_expression_length:
        raise TooLargeError(f"expression has {total} characters; the limit is {limits.max_expression_length}",
                            "/expression")
    tr = _Translator([i.name for i in inputs], limits)
    outputs: list[str] = []
    for k, text in enumerate(texts):
        tr.pointer = f"/expression/{k}" if isinstance(expression, list) else "/expression"
        outputs.append(_parse_one(text, tr.pointer, tr))
    return inputs, tr, outputs, isinstance(expression, list)


def parse_expression(obj: Any, *, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """A text function ``{"inputs", "expression": str | [str, ...]}`` as the JSON graph it means (ids, attrs as
    written): for reading and tooling. Evaluation loads it directly with ``load_expression``."""
    _, tr, outputs, as_list = _translate(obj, limits)
    nodes = [{"id": n.nid, "op": n.op.name, "args": n.args, **({"attrs": n.attrs} if n.attrs else {})}
             for n in tr.nodes]
    return {"version": obj.get("version", VERSION), "opset": obj.get("opset", NEWEST_OPSET),
            "inputs": obj.get("inputs"), "nodes": nodes, "outputs": outputs if as_list else outputs[0]}


def load_expression(obj: Any, *, limits: Limits = DEFAULT_LIMITS) -> Graph:
    """A text function as a ``Graph``: translated and checked once, then built as a JSON graph is."""
    declared = check_header(obj) if isinstance(obj, Mapping) else NEWEST_OPSET
    inputs, tr, outputs, as_list = _translate(obj, limits)
    n_constants = sum(1 for n in tr.nodes for a in n.args if type(a) is not str)
    builder = GraphBuilder(inputs, n_constants, limits)
    slots = input_slots(inputs)
    for n in tr.nodes:
        args = tuple(slots[a] if type(a) is str else builder.constant(a, n.pointer) for a in n.args)
        slots[n.nid] = builder.node(n.op, args, n.bound, n.nid)
    try:
        return builder.build([slots[o] for o in outputs], as_list, declared)
    except GraphError as e:  # an op newer than the declared opset: the text, not a generated node, is at fault
        raise e.placed("/expression") from None
