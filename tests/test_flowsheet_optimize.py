"""The flowsheet optimizer's calls of the user's functions (no solver)."""

from __future__ import annotations

import pytest


@pytest.mark.unit
def test_a_mistake_in_the_users_functions_names_the_field_as_bad_input():
    from idaes_hybrid.cli.app import _bad_input_errors
    from idaes_hybrid.optimize.flowsheet import UserFunctionError, call_user

    def constraints(blk):
        return {"T_max": blk.fs.unit.jacket_temperature <= 309}

    class Unit:
        pass

    blk = type("Blk", (), {"fs": type("Fs", (), {"unit": Unit()})()})()
    with pytest.raises(UserFunctionError, match=r"^optimization.constraints: constraints\(blk\) raised "
                                                r"AttributeError: .*jacket_temperature"):
        call_user(constraints, blk, "optimization.constraints")
    assert call_user(lambda b: 3.0, blk, "optimization.objective") == 3.0
    assert UserFunctionError in _bad_input_errors()
