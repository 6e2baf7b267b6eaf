"""The condition number of the numerical checks: scaling problems vs ill-conditioning."""

import numpy as np
import pytest
import scipy.sparse as sp

from idaes_hybrid.diagnostics.numerical_checks import (
    LARGE_CONDITION, NumericalFindings, condition_estimate, equilibrate)
from idaes_hybrid.diagnostics import numerical_checks as nc


def _findings(a) -> NumericalFindings:
    out = NumericalFindings()
    nc._condition_findings(sp.csr_matrix(a), out)
    return out


@pytest.mark.unit
def test_equilibrate_scales_rows_and_columns_to_unit_maxima():
    rng = np.random.default_rng(0)
    a = sp.random(30, 30, density=0.2, random_state=1) + sp.eye(30)
    bad = sp.diags(10.0 ** rng.uniform(-8, 8, 30)) @ a @ sp.diags(10.0 ** rng.uniform(-8, 8, 30))
    e = equilibrate(bad).toarray()
    np.testing.assert_allclose(np.abs(e).max(axis=1), 1.0, rtol=5e-2)
    np.testing.assert_allclose(np.abs(e).max(axis=0), 1.0, rtol=5e-2)
    # what the diagonal scaling added to the condition number is (mostly) removed
    assert condition_estimate(bad) > 1e20
    assert condition_estimate(e) < 1e7


@pytest.mark.unit
def test_badly_scaled_matrix_gives_a_caution_not_a_warning():
    # like the saponification flowsheet: water at 5.5e4 mol/m3 beside rates of 1e-8
    well = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
    a = np.diag([5.5e4, 1.0, 1e-8]) @ well @ np.diag([1.0, 1e-4, 1e3])
    out = _findings(a)
    assert out.condition_number > LARGE_CONDITION
    assert out.equilibrated_condition_number < 1e5  # from 2.8e16
    assert out.warnings == []
    assert len(out.cautions) == 1 and "scaling problem" in out.cautions[0]


@pytest.mark.unit
def test_ill_conditioned_matrix_warns_after_equilibration():
    a = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-12]])
    out = _findings(a)
    np.testing.assert_allclose(out.equilibrated_condition_number, 4e12, rtol=0.1)
    assert len(out.warnings) == 1 and "after row and column equilibration" in out.warnings[0]


@pytest.mark.unit
def test_well_conditioned_matrix_reports_nothing():
    out = _findings(np.array([[2.0, 1.0], [1.0, 3.0]]))
    assert out.warnings == out.cautions == []
    np.testing.assert_allclose(out.condition_number, np.linalg.cond([[2.0, 1.0], [1.0, 3.0]], 1))
