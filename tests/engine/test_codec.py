"""Tensor codec: JSON numbers, nested lists and base64 objects, both ways, bit-exact, with pointed errors."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np
import pytest

from engine.codec import decode_constant, decode_tensor, encode_constant, encode_tensor
from engine.errors import ArgumentError, GraphError, TooLargeError
from engine.limits import Limits

SPECIALS = [0.0, -0.0, 1.5, -2.25, np.nan, np.inf, -np.inf]
EXTREMES64 = [5e-324, 1.7976931348623157e308]
EXTREMES32 = [1e-45, 3.4028235e38]

ARRAYS: list[np.ndarray] = [
    np.array(SPECIALS + EXTREMES64, dtype=np.float64),
    np.array(SPECIALS + EXTREMES32, dtype=np.float32),
    np.array(3.5),
    np.array(-0.0, dtype=np.float32),
    np.zeros((0,)),
    np.zeros((2, 0, 3), dtype=np.float32),
    np.arange(24, dtype=np.float64).reshape(2, 3, 4),
    np.arange(6, dtype=np.float32).reshape(2, 3).T,  # not contiguous
]


def bits(x: np.ndarray) -> bytes:
    return np.ascontiguousarray(x).tobytes()


@pytest.mark.parametrize("x", ARRAYS, ids=[f"{a.dtype}{list(a.shape)}" for a in ARRAYS])
def test_base64_round_trip_is_bit_exact(x: np.ndarray) -> None:
    wire = json.loads(json.dumps(encode_tensor(x, "base64")))
    y = decode_tensor(wire)
    assert y.dtype == x.dtype and y.shape == x.shape
    assert bits(y) == bits(x)


@pytest.mark.parametrize("x", [a for a in ARRAYS if a.dtype == np.float64])
def test_list_round_trip_is_bit_exact_for_float64(x: np.ndarray) -> None:
    wire = json.loads(json.dumps(encode_tensor(x, "list"), allow_nan=False))
    y = decode_tensor(wire)
    assert y.dtype == np.float64 and y.shape == x.shape
    assert bits(y) == bits(x)


def test_list_encoding_writes_non_finite_values_as_protobuf_strings() -> None:
    assert encode_tensor(np.array([1.0, np.nan, np.inf, -np.inf])) == [1.0, "NaN", "Infinity", "-Infinity"]
    assert encode_tensor(np.array(np.nan)) == "NaN"
    assert encode_tensor(np.array([[2.0, -0.0]])) == [[2.0, -0.0]]


def test_list_encoding_of_float32_round_trips_through_float64_exactly() -> None:
    x = np.array([0.1, 1 / 3, 1e-40], dtype=np.float32)
    y = decode_tensor(encode_tensor(x, "list"))
    assert y.dtype == np.float64 and np.array_equal(y.astype(np.float32), x)


@pytest.mark.parametrize("x, dtype", [(np.array([True, False]), "float64"), (np.arange(3), "float64"),
                                      (np.float32(2.0), "float32"), (7, "float64")])
def test_base64_encoding_casts_bools_and_ints_to_float64(x: Any, dtype: str) -> None:
    wire = encode_tensor(x, "base64")
    assert wire["dtype"] == dtype
    assert np.array_equal(decode_tensor(wire), np.asarray(x, dtype=dtype))


def test_base64_is_little_endian_raw_bytes() -> None:
    wire = encode_tensor(np.array([1.0, 2.0]), "base64")
    assert base64.b64decode(wire["data"]) == np.array([1.0, 2.0], dtype="<f8").tobytes()
    assert wire["shape"] == [2]


def test_big_endian_arrays_encode_as_little_endian() -> None:
    x = np.array([1.0, -3.5], dtype=">f8")
    assert bits(decode_tensor(encode_tensor(x, "base64"))) == bits(x.astype("<f8"))


def test_decoded_binary_arrays_are_writable() -> None:
    y = decode_tensor(encode_tensor(np.ones(3), "base64"))
    y[0] = 5.0
    assert y[0] == 5.0


def test_million_element_round_trip_in_both_encodings() -> None:
    x = np.random.default_rng(0).standard_normal(1_000_000)
    assert bits(decode_tensor(encode_tensor(x, "base64"))) == bits(x)
    assert bits(decode_tensor(encode_tensor(x.reshape(1000, 1000), "list"))) == bits(x)


@pytest.mark.parametrize("obj, expected", [
    (3, np.array(3.0)), (-2.5, np.array(-2.5)), ("NaN", np.array(np.nan)), ("-Infinity", np.array(-np.inf)),
    ([1, 2.5], np.array([1.0, 2.5])), ([[1, "Infinity"], ["NaN", 0]], np.array([[1, np.inf], [np.nan, 0]])),
    ([], np.zeros(0)), ([[], []], np.zeros((2, 0))), ([2**70], np.array([2.0**70])),
])
def test_decode_tensor_accepts_numbers_lists_and_non_finite_strings(obj: Any, expected: np.ndarray) -> None:
    y = decode_tensor(obj)
    assert y.dtype == np.float64 and y.shape == expected.shape
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("obj, pointer, words", [
    ([[1, 2], [3]], "/args/0/1", "ragged"),
    ([[1, 2], 3], "/args/0/1", "ragged"),
    ([[[1], [2]], [[3], 4]], "/args/0/1/1", "ragged"),
    ([[1, 2], [3, [4, 5]]], "/args/0/1/1", "ragged"),
    ([1.0, True], "/args/0/1", "booleans are not numbers"),
    ([[0.5, 1], [False, 2]], "/args/0/1/0", "booleans"),
    (True, "/args/0", "booleans"),
    ([1, "one"], "/args/0/1", '"NaN", "Infinity"'),
    ("nan", "/args/0", "the string 'nan'"),
    ([None], "/args/0/0", "null"),
    (None, "/args/0", "null"),
    ([10**400], "/args/0/0", "too large"),
    ([{"a": 1}], "/args/0/0", "an object"),
])
def test_decode_tensor_rejects_bad_lists_with_the_exact_pointer(obj: Any, pointer: str, words: str) -> None:
    with pytest.raises(ArgumentError) as info:
        decode_tensor(obj, "/args/0")
    assert info.value.pointer == pointer
    assert words in info.value.message


def binary(dtype: str = "float64", shape: Any = (2,), data: Any = None, **extra: Any) -> dict[str, Any]:
    if data is None:
        data = base64.b64encode(np.zeros(math.prod(shape), dtype=dtype).tobytes()).decode()
    return {"dtype": dtype, "shape": list(shape), "data": data, **extra}


@pytest.mark.parametrize("obj, pointer, words", [
    (binary("int32"), "/dy/dtype", '"float64" or "float32"'),
    (binary("float16"), "/dy/dtype", '"float64" or "float32"'),
    (binary(shape=(2,), data=base64.b64encode(b"\0" * 8).decode()), "/dy/data", "24 base64 characters"),
    (binary(shape=(1,), data="AAAAAAAA!AA="), "/dy/data", "not valid base64"),
    (binary(shape=(1,), data="AAAAAAAAAA=="), "/dy/data", "decodes to 7 bytes"),
    (binary(shape=(1,), data=12), "/dy/data", "got the number 12"),
    ({**binary(), "shape": [2, -1]}, "/dy/shape/1", "non-negative"),
    ({**binary(), "shape": [True]}, "/dy/shape/0", "non-negative"),
    ({**binary(), "shape": "2"}, "/dy/shape", "list"),
    ({"dtype": "float64", "shape": [1]}, "/dy", "needs 'data'"),
    (binary(order="C"), "/dy/order", "unknown key 'order'"),
])
def test_decode_tensor_rejects_bad_binary_objects(obj: Any, pointer: str, words: str) -> None:
    with pytest.raises(ArgumentError) as info:
        decode_tensor(obj, "/dy")
    assert info.value.pointer == pointer
    assert words in info.value.message


def test_element_limit_is_checked_before_decoding_binary_data() -> None:
    wire = {"dtype": "float64", "shape": [100_000, 100_000], "data": "not even base64"}
    with pytest.raises(TooLargeError) as info:
        decode_tensor(wire, "/args/1")
    assert info.value.pointer == "/args/1" and "shape [100000, 100000]" in info.value.message


def test_element_limit_applies_to_lists() -> None:
    with pytest.raises(TooLargeError) as info:
        decode_tensor([[0.0] * 10] * 10, "/args/0", limits=Limits(max_tensor_elements=99))
    assert "more than 99 elements" in info.value.message


HUGE = 4611686018427387904


@pytest.mark.parametrize("shape", [[HUGE, HUGE, 0], [0, 2**40], [2**24 + 1, 0]])
def test_every_dimension_of_a_binary_tensor_is_bounded(shape: list[int]) -> None:
    """Zero elements, but NumPy cannot describe the shape: a 500 before issue 10."""
    with pytest.raises(TooLargeError) as info:
        decode_tensor({"dtype": "float64", "shape": shape, "data": ""}, "/args/0")
    assert info.value.pointer == "/args/0/shape" and "dimension of size" in info.value.message
    with pytest.raises(TooLargeError):
        decode_constant({"dtype": "float32", "shape": shape, "data": ""}, "/nodes/0/args/1")


def test_zero_size_binary_tensors_within_the_bounds_still_decode() -> None:
    x = decode_tensor({"dtype": "float64", "shape": [2**24, 0], "data": ""}, max_elements=0)
    assert x.shape == (2**24, 0)


def test_empty_nested_lists_are_bounded_by_their_number_of_arrays() -> None:
    """[[], [], ...] has no elements: 20 million of them (60 MB) took 18 s and 2.2 GB."""
    limits = Limits(max_json_lists=1000)
    assert decode_tensor([[]] * 999, limits=limits).shape == (999, 0)
    for obj in ([[]] * 1000, [[[]] * 10] * 100, [[[1.0]] * 10] * 100):
        with pytest.raises(TooLargeError) as info:
            decode_tensor(obj, "/args/0", limits=limits)
        assert info.value.pointer == "/args/0" and "JSON arrays, more than 1000" in info.value.message
    with pytest.raises(TooLargeError):
        decode_tensor([[]] * (2**20), "/args/0")  # the default bound: 2**20 arrays


def test_lists_nested_deeper_than_numpy_allows_are_rejected() -> None:
    obj: Any = [1.0]
    for _ in range(40):
        obj = [obj]
    with pytest.raises(ArgumentError) as info:
        decode_tensor(obj)
    assert "deeper than 32" in info.value.message


@pytest.mark.parametrize("obj, expected", [
    (2, 2.0), (-0.5, -0.5), ({"value": 3}, 3.0), ({"value": "Infinity"}, math.inf), ({"value": "-Infinity"}, -math.inf),
])
def test_number_constants_are_python_floats(obj: Any, expected: float) -> None:
    c = decode_constant(obj)
    assert type(c) is float and c == expected


def test_nan_constant_is_a_python_float() -> None:
    c = decode_constant({"value": "NaN"})
    assert type(c) is float and math.isnan(c)


def test_python_float_constant_stays_weakly_typed_with_float32_inputs() -> None:
    c = decode_constant(0.1)
    assert (np.ones(2, dtype=np.float32) * c).dtype == np.float32


@pytest.mark.parametrize("obj, expected", [
    ([1, 2], np.array([1.0, 2.0])), ({"value": [1, "NaN"]}, np.array([1.0, np.nan])),
    (binary("float32", (2, 2)), np.zeros((2, 2), dtype=np.float32)),
])
def test_array_constants_are_ndarrays(obj: Any, expected: np.ndarray) -> None:
    c = decode_constant(obj)
    assert isinstance(c, np.ndarray) and c.dtype == expected.dtype
    np.testing.assert_array_equal(c, expected)


@pytest.mark.parametrize("obj, pointer, words", [
    ("x", "/c", "reference"),
    ([1, "NaN"], "/c/1", 'wrap non-finite values as {"value": ...}'),
    ({"value": [1, "x"]}, "/c/value/1", "the string 'x'"),
    ({"value": 1, "extra": 2}, "/c/extra", "no other keys"),
    (True, "/c", "booleans"),
    ([[1], [1, 2]], "/c/1", "ragged"),
])
def test_decode_constant_errors_are_graph_errors(obj: Any, pointer: str, words: str) -> None:
    with pytest.raises(GraphError) as info:
        decode_constant(obj, "/c")
    assert info.value.pointer == pointer
    assert words in info.value.message


def test_constant_limit_uses_max_constant_elements() -> None:
    with pytest.raises(TooLargeError):
        decode_constant([0.0] * 11, "/c", limits=Limits(max_constant_elements=10))


@pytest.mark.parametrize("c, expected", [
    (2.0, 2.0), (3, 3.0), (-0.0, -0.0), (math.nan, {"value": "NaN"}), (math.inf, {"value": "Infinity"}),
    (-math.inf, {"value": "-Infinity"}),
])
def test_encode_constant_keeps_numbers_as_numbers(c: Any, expected: Any) -> None:
    assert encode_constant(c) == expected


def test_encode_constant_writes_arrays_as_binary() -> None:
    wire = encode_constant(np.array([[1.0, 2.0]], dtype=np.float32))
    assert wire["dtype"] == "float32" and wire["shape"] == [1, 2]


def test_unknown_encoding_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        encode_tensor(np.ones(1), "csv")  # type: ignore[arg-type]
