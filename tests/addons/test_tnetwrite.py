"""The capture writer's tnetstrings are mitmproxy's, byte for byte."""

from __future__ import annotations

import enum
from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mitmproxy.io import tnetstring
from mitmproxy.test import tflow

from dspscope.addons import tnetwrite
from tests.addons import support

scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.binary(max_size=40)
           | st.text(st.characters(blacklist_categories=("Cs",)), max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.tuples(inner, inner)
                      | st.dictionaries(st.text(max_size=8) | st.binary(max_size=8), inner, max_size=5),
                      max_leaves=40)


@given(values)
def test_generated_values_are_written_as_mitmproxy_writes_them(value):
    assert tnetwrite.dumps(value) == tnetstring.dumps(value)


def test_flows_of_a_job_are_written_as_mitmproxy_writes_them():
    flows = [*support.job_flows(images=2), tflow.tflow(resp=True, err=True), tflow.tflow()]
    for flow in flows:
        flow.metadata["dspscope"] = {"findings": [{"code": "a", "span": (1, 2)}], "n": 1.5}
        state = flow.get_state()
        assert tnetwrite.dumps(state) == tnetstring.dumps(state)


def test_large_byte_strings_are_pieces_of_their_own_and_the_rest_is_joined():
    image = bytes(range(256)) * 1024
    value = {"a": [b"x", image, "y"], "b": image}
    pieces = tnetwrite.pieces(value)
    assert b"".join(pieces) == tnetstring.dumps(value)
    assert [p for p in pieces if len(p) >= tnetwrite.BIG_PIECE] == [image, image]
    assert all(p is image for p in pieces if len(p) >= tnetwrite.BIG_PIECE)  # never copied
    assert len(pieces) == 5  # head, image, between, image, tail


def test_subclasses_are_written_as_their_base_types():
    class Level(enum.IntEnum):
        HIGH = 3

    class Name(str):
        pass

    value = OrderedDict(level=Level.HIGH, name=Name("n"), items=[1, (2, 3)])
    assert tnetwrite.dumps(value) == tnetstring.dumps(value)


def test_what_mitmproxy_cannot_write_is_refused_the_same_way():
    for bad in ({1, 2}, object(), {"k": [object()]}):
        with pytest.raises(ValueError):
            tnetstring.dumps(bad)
        with pytest.raises(ValueError):
            tnetwrite.dumps(bad)
