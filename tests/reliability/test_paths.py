"""No id, name or path can make the harness write outside the folder it owns: every written
path goes through ``runfolder.inside`` (traversal, absolute paths, separators, Unicode
look-alikes, links out of the folder are refused)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagination.engine.plan import JobSpec, Variant
from imagination.errors import InputError
from imagination.runfolder import PathEscapeError, file_name, inside
from imagination.tasks.recurrence_scoring import RecurrenceTruth, write_example
from tests.adapters.builders import build_case

SRC = Path(__file__).resolve().parents[2] / "src" / "imagination"

HOSTILE_NAMES = [
    "../escape", "..", ".", "a/../../b", "/etc/passwd", "C:\\\\Windows", "a\\\\b", "sub/dir",
    "", " ", "tab\\there", "nul\\x00byte", "new\\nline", ".hidden",
    "\\uff0e\\uff0e",        # FULLWIDTH FULL STOP x2 (NFKC: "..")
    "\\u2025",               # TWO DOT LEADER (NFKC: "..")
    "a\\uff0fb",             # FULLWIDTH SOLIDUS
    "a\\u2215b",             # DIVISION SLASH
    "a\\u2044b",             # FRACTION SLASH
    "a\\u29f8b",             # BIG SOLIDUS
    "a\\ufe68b",             # SMALL REVERSE SOLIDUS
    "c\\u0430se",            # Cyrillic a
    "x" * 300,
]
HOSTILE_NAMES = [n.encode().decode("unicode_escape") if "\\\\" in n or "\\u" in n or "\\x" in n
                 or "\\n" in n or "\\t" in n else n for n in HOSTILE_NAMES]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:30])
def test_hostile_names_are_refused_with_a_clear_error(tmp_path, name):
    with pytest.raises(PathEscapeError, match="refusing to write a file named") as caught:
        inside(tmp_path, name)
    assert isinstance(caught.value, InputError)  # exit 2, a clear message
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=3))
def test_whatever_the_names_the_path_is_refused_or_stays_inside(tmp_path_factory, parts):
    root = tmp_path_factory.getbasetemp() / "root"
    root.mkdir(exist_ok=True)
    try:
        path = inside(root, *parts)
    except PathEscapeError:
        return
    assert Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))
    assert all(re.fullmatch(r"[A-Za-z0-9_@+=-][A-Za-z0-9_.@+=-]*", p) for p in parts)


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "run"
    root.mkdir()
    (root / "examples").symlink_to(outside)
    with pytest.raises(PathEscapeError, match="outside"):
        inside(root, "examples", "slice.npz")
    assert inside(root, "store", "index.sqlite") == root / "store" / "index.sqlite"
    assert file_name("noise@3") == "noise@3"


@pytest.mark.parametrize(("field", "value"), [("adapter_label", "../../../tmp/evil"),
                                              ("case_id", "..\\u2215..\\u2215evil")])
def test_an_example_slice_named_from_hostile_ids_is_not_written_anywhere(tmp_path, field,
                                                                         value):
    loaded = build_case("c1", shape=(8, 8, 6), centre_mm=(8.0, 8.0, 6.0), core_radius_mm=2.0,
                        edema_radius_mm=4.0)
    value = value.encode().decode("unicode_escape")
    case = loaded.case if field != "case_id" else type(loaded.case)(
        **{**loaded.case.__dict__, "case_id": value})
    job = JobSpec(key="k" * 64, case=case, adapter_label=value if field == "adapter_label"
                  else "model", adapter_name="x", adapter_params={}, kind="predictions",
                  tasks=("recurrence",), variant=Variant(), perturbation_seed=None,
                  vocabularies={})
    shape = loaded.grid.shape
    truth = RecurrenceTruth(np.ones(shape, bool), None, np.zeros(shape, bool),
                            np.ones(shape, bool), (2.0, 2.0, 2.0), np.zeros(shape, np.float32))
    folder = tmp_path / "run" / "examples"
    before = set(tmp_path.rglob("*"))
    with pytest.raises(PathEscapeError):
        write_example(folder, job, truth, np.zeros(shape, np.float32), np.ones(shape, bool))
    assert not [p for p in set(tmp_path.rglob("*")) - before if p.is_file()]
    assert not Path("/tmp/evil.npz").exists()


#: Modules that write into a run folder: every path they write is built by ``inside``.
WRITERS = ["engine/bench.py", "engine/scoring.py", "tasks/recurrence_scoring.py",
           "engine/provenance.py", "engine/store.py", "report/regenerate.py",
           "cli/bench_commands.py", "adapters/command.py"]


@pytest.mark.parametrize("module", WRITERS)
def test_run_folder_writers_build_written_paths_only_through_inside(module):
    text = (SRC / module).read_text()
    written = re.findall(r"(?:atomic_write_\w+|write_table|write_cohort_table|write_nifti|"
                         r"FileHandler|write_json|_write_json|savez\w*)\(\s*[^i(][^,)]*/", text)
    assert written == [], f"{module}: a written path built without inside(): {written}"
