"""The bundled MNI152 template: offline, canonical, resampled and cached."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from imagination.errors import InputError
from imagination.growth.atlas import TEMPLATE_FILES, load_mni152, template_folder


def test_atlas_at_4mm_has_consistent_tissue_maps():
    atlas = load_mni152(4.0)
    assert atlas.grid.spacing == (4.0, 4.0, 4.0)
    assert atlas.t1.shape == atlas.gm.shape == atlas.wm.shape == atlas.csf.shape
    assert atlas.brain.dtype == bool
    inside = atlas.brain
    total = atlas.gm + atlas.wm + atlas.csf
    assert np.all(total[inside] <= 1.0 + 1e-5)
    assert np.all(atlas.gm[~inside] == 0) and np.all(atlas.wm[~inside] == 0)
    # Brain volume of the MNI152 2009a template is about 1.8-1.9 litres.
    volume_ml = inside.sum() * atlas.grid.voxel_volume_ml
    assert 1600 < volume_ml < 2100
    # T1 contrast: white matter brighter than grey matter, grey brighter than CSF.
    wm_t1 = atlas.t1[atlas.wm > 0.8].mean()
    gm_t1 = atlas.t1[atlas.gm > 0.8].mean()
    csf_t1 = atlas.t1[atlas.csf > 0.8].mean()
    assert wm_t1 > gm_t1 > csf_t1


def test_atlas_world_coordinates_match_the_1mm_template():
    atlas = load_mni152(4.0)
    source = nib.as_closest_canonical(nib.load(template_folder() / TEMPLATE_FILES["wm"]))
    wm_1mm = np.asarray(source.dataobj, dtype=np.float32) / 255.0
    # A voxel centre of the 4 mm grid maps to the world point whose 1 mm neighbourhood it averages.
    index = np.argwhere(atlas.wm > 0.95)[0]
    world = atlas.grid.affine @ np.r_[index, 1.0]
    fine = np.round(np.linalg.solve(source.affine, world)[:3]).astype(int)
    patch = wm_1mm[tuple(slice(c - 1, c + 2) for c in fine)]
    assert patch.mean() > 0.8
    # Right hemisphere is at +x in RAS.
    assert atlas.grid.affine[0, 0] > 0


def test_atlas_is_cached_and_read_only():
    first = load_mni152(4.0)
    assert load_mni152(4) is first
    with pytest.raises(ValueError):
        first.wm[0, 0, 0] = 1.0


def test_unreasonable_resolution_is_an_input_error():
    with pytest.raises(InputError, match="resolution"):
        load_mni152(0.5)
