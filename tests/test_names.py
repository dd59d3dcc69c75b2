"""Ids are names, never paths: traversal, separators, look-alikes, control characters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagination.names import MAX_NAME_LENGTH, check_name, name_problem

GOOD = ["c1", "BraTS-GLI-00001-000", "UPENN-GBM-00001_11", "synth.001", "_x", "9"]
BAD = {
    "../evil": "path separator",
    "..": "starts with a dot",
    ".hidden": "starts with a dot",
    "a/b": "path separator",
    "a\\b": "path separator",
    "/etc/passwd": "path separator",
    "C:x": "not allowed",
    "a b": "white space",
    "a\tb": "white space",
    "a\x00b": "control character",
    "a\x1b[31m": "control character",
    "case\u2215x": "not ASCII",        # DIVISION SLASH
    "case\uff0fx": "not ASCII",        # FULLWIDTH SOLIDUS
    "\u2024\u2024": "not ASCII",       # ONE DOT LEADER x2 (looks like "..")
    "c\u0430se": "not ASCII",          # Cyrillic a
    "": "is empty",
    "x" * (MAX_NAME_LENGTH + 1): "characters long",
}


@pytest.mark.parametrize("name", GOOD)
def test_good_names_pass(name):
    assert name_problem(name) is None
    assert check_name(name) == name


@pytest.mark.parametrize("name, why", sorted(BAD.items()))
def test_bad_names_say_why(name, why):
    problem = name_problem(name)
    assert problem is not None and why in problem
    with pytest.raises(ValueError, match="not a valid name"):
        check_name(name)


@given(st.text(max_size=40))
def test_a_valid_name_is_one_plain_path_component(text):
    """Whatever passes cannot leave the folder it is joined to."""
    if name_problem(text) is None:
        assert text not in (".", "..") and "/" not in text and "\\" not in text
        assert text.isascii() and text.isprintable() and not text.startswith(".")
