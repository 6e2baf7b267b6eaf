"""The built-in hybrid models, ordinary users of the framework: the fed-batch bioreactor,
the index-2 tank manifold (with its tank and manifold units) and the predator-prey model,
and ``registry``, which names them for the unit configurations."""
