"""The Hessian-mode benchmark's config variants and table (no training)."""

import tomllib

import pytest

from benchmarks.hessian_modes import markdown, with_hessian


@pytest.mark.unit
def test_with_hessian_replaces_the_configs_own_choice(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[training]\nhessian = "exact"\nregularization = 2.0\n[solver]\ntol = 1e-6\n')
    out = with_hessian(config, "block-diagonal")
    data = tomllib.loads(out.read_text())
    assert data["training"] == {"hessian": "block-diagonal", "regularization": 2.0}
    assert data["solver"] == {"tol": 1e-6}
    bare = tmp_path / "b.toml"
    bare.write_text("[solver]\ntol = 1e-6\n")
    assert tomllib.loads(with_hessian(bare, "exact").read_text())["training"] == {"hessian": "exact"}


@pytest.mark.unit
def test_markdown_gives_seconds_per_iteration():
    rows = [{"case": "bio", "hessian": "exact", "status": "optimal", "iterations": 24, "train_s": 7.2,
             "wall_s": 14.0, "validation_rmse": {"X": 0.0261}},
            {"case": "bio", "hessian": "block-diagonal", "status": "stopped at 600 s", "wall_s": 600.0}]
    text = markdown(rows, 600.0)
    assert "| bio | exact | optimal | 24 | 7.2 | 0.300 | 14 | X 0.0261 |" in text
    assert "| bio | block-diagonal | stopped at 600 s | - | nan | - | 600 |" in text
