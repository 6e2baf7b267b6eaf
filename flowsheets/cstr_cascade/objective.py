"""Optimization of the cascade: least unreacted NaOH leaving r2 for the heat spent."""

from idaes_hybrid.optimize.flowsheet import trapezoid

HEAT_PRICE = 2e-6   # (mol/m^3 * s) per J: trades outlet NaOH against heat duty


def objective(blk):
    """Integral of the outlet NaOH concentration plus the price of both heat duties."""
    fs = blk.fs
    c2 = fs.r2.control_volume.properties_out
    return trapezoid(blk, lambda t: c2[t].conc_mol_comp["NaOH"]
                     + HEAT_PRICE * (fs.r1.heat_duty[t] + fs.r2.heat_duty[t]))


def constraints(blk):
    """Keep both reactors at or below 312 K (inside the trained temperatures), at the ends
    of the finite elements; named in config.toml (``[optimization] constraints``).

    Active: without them the optimum heats both reactors at full duty and r2 reaches
    313.7 K. With them the optimum holds r2 at 312 K by lowering Q2 in the first half."""
    fs = blk.fs
    ends = list(fs.time)[::3]   # the ends of the finite elements (ncp = 3)
    return {f"T{i}_max": [r.control_volume.properties_out[t].temperature <= 312.0
                          for t in ends]
            for i, r in ((1, fs.r1), (2, fs.r2))}
