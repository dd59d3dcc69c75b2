"""Site heterogeneity in the degenerate case of one site carrying all the weight."""

from __future__ import annotations

import warnings

import pytest

from imagination.stats.sites import SiteEstimate, site_heterogeneity


def test_one_site_dwarfing_the_others_pools_to_that_site_without_warnings() -> None:
    sites = [SiteEstimate("A", 0.8, 1e-10, 0.8, 0.8, 30),
             SiteEstimate("B", 0.6, 0.1, 0.4, 0.8, 30)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = site_heterogeneity(sites)
    assert result.tau2 == 0.0
    assert result.random_estimate == pytest.approx(0.8, abs=1e-12)
    assert result.fixed_estimate == pytest.approx(0.8, abs=1e-12)
