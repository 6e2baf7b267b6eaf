"""Diagnostics of a built or trained model: IDAES's structural report and the numerical
checks (residuals, bounds, scaled Jacobian, condition number)."""
