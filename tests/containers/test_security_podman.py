"""What a container must not be able to do, tried by real containers (podman)."""

from __future__ import annotations

import subprocess

import pytest

from imagination.adapters.container import ContainerAdapter
from imagination.adapters.validation import AdapterOutputError, AdapterTimeoutError
from imagination.errors import InputError

#: one worker runs every container test (one podman store, images loaded once)
pytestmark = pytest.mark.xdist_group("containers")


def model(archives, name, layout="imagination", tasks=("idh",), **params):  # type: ignore[no-untyped-def]
    path, image_id = archives[name]
    built = ContainerAdapter(image_archive=str(path), digest=image_id, layout=layout,
                             tasks=list(tasks), runtime="podman", **params)
    built.prepare()
    return built


@pytest.fixture(scope="module")
def probed(podman, archives):  # type: ignore[no-untyped-def]
    from tests.adapters.builders import build_case
    from tests.containers.conftest import tissues

    case = build_case("probe-case", shape=(12, 12, 10))
    case.tissues.update(tissues(case))
    adapter = model(archives, "probe", tasks=("idh", "codeletion_1p19q", "mgmt"),
                    modalities=["t1c"], timeout_s=60)
    return adapter.predict(case).classification


def test_no_network(probed) -> None:  # type: ignore[no-untyped-def]
    assert probed["idh"] == {"mutant": 0.0, "wildtype": 1.0}


def test_input_mount_is_read_only(probed) -> None:  # type: ignore[no-untyped-def]
    assert probed["codeletion_1p19q"] == {"codeleted": 0.0, "intact": 1.0}


def test_not_root(probed) -> None:  # type: ignore[no-untyped-def]
    assert probed["mgmt"] == {"methylated": 0.0, "unmethylated": 1.0}


def test_timeout_stops_and_removes_the_container(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    adapter = model(archives, "sleep", modalities=["t1c"], timeout_s=2)
    with pytest.raises(AdapterTimeoutError, match="stopped and removed"):
        adapter.predict(case)
    left = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}} {{.ImageID}}"],
                          capture_output=True, text=True, check=True).stdout
    sleep_id = archives["sleep"][1].removeprefix("sha256:")[:12]
    assert sleep_id not in left


def test_missing_output_fails_the_case(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    adapter = model(archives, "nothing", layout="predict-gbm", tasks=("recurrence",),
                    timeout_s=60)
    with pytest.raises(AdapterOutputError, match=r"wrote no 00000\.nii\.gz"):
        adapter.predict(case)


def test_output_off_the_grid_fails_the_case(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    adapter = model(archives, "wrong-grid", layout="predict-gbm", tasks=("recurrence",),
                    timeout_s=60)
    with pytest.raises(AdapterOutputError, match="not on the case grid: origin"):
        adapter.predict(case)


def test_digest_mismatch_refused_before_loading(podman, archives) -> None:  # type: ignore[no-untyped-def]
    path, _ = archives["probe"]
    wrong = "sha256:" + "0" * 64
    with pytest.raises(InputError, match="digest mismatch"):
        ContainerAdapter(image_archive=str(path), digest=wrong, layout="imagination",
                         tasks=["idh"], runtime="podman")


def test_root_user_refused(podman, archives) -> None:  # type: ignore[no-untyped-def]
    path, image_id = archives["probe"]
    with pytest.raises(InputError, match="never run as root"):
        ContainerAdapter(image_archive=str(path), digest=image_id, layout="imagination",
                         tasks=["idh"], user="0:0")
