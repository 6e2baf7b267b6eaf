"""Solving (the foundation layer): solver discovery (``solver``), options, the ``.nl`` path
with real Ipopt (``nl_solve``), the batched network callbacks (``batched``), IDAES's
default solver (``idaes_default``, ``idaes_plugin``) and the equation system of the
initializers (``nl_system``)."""
