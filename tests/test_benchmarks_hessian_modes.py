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


def _fit(kin, noise, nseed, hess, obj, val_x, it=30, t=6.0):
    return {"kin": kin, "dseed": 1, "noise": noise, "nseed": nseed, "hess": hess, "status": "optimal",
            "obj": obj, "val": {"X": val_x}, "it": it, "t": t}


@pytest.mark.unit
def test_paired_hessian_summary_counts_pairs_beyond_the_factor():
    from benchmarks import hessian_paired

    rows = [_fit("monod", "with", 0, "exact", 1.0, 0.02), _fit("monod", "with", 0, "block-diagonal", 1.0, 0.02),
            _fit("monod", "with", 1, "exact", 1.0, 0.02), _fit("monod", "with", 1, "block-diagonal", 0.99, 0.04,
                                                                t=3.0),
            _fit("haldane", "without", 0, "exact", 2.0, 0.10),
            _fit("haldane", "without", 0, "block-diagonal", 2.1, 0.05, t=3.0),
            _fit("contois", "with", 0, "exact", 1.0, 0.1)]  # unpaired: left out
    s = hessian_paired.summary(rows)
    assert s["pairs"] == 3 and s["worse"] == 1 and s["better"] == 1
    assert s["geo_mean_ratio"] == pytest.approx((1.0 * 2.0 * 0.5) ** (1 / 3))
    assert (s["block_objective_lower"], s["block_objective_higher"]) == (1, 1)
    assert s["s_per_it"] == {"exact": pytest.approx(0.2), "block-diagonal": pytest.approx(0.1)}
    text = hessian_paired.render(rows, "note")
    assert "**3 pairs" in text and "| haldane | 1 | without | 0 | 30, 2, 0.1 | 30, 2.1, 0.05 | 0.50 |" in text


@pytest.mark.unit
def test_paired_hessian_variant_sets_the_seed_and_the_hessian():
    from benchmarks import hessian_paired

    config = 'model = "m"\n[network]\nseed = 0\n\n[[experiments]]\nname = "b1"\n\n[[experiments]]\nname = "b2"\n'
    text = hessian_paired.variant(config, 3, "block-diagonal")
    assert "seed = 3" in text and "seed = 0" not in text
    assert text.count('[training]\nhessian = "block-diagonal"') == 1
    assert text.index("[training]") < text.index("[[experiments]]")
