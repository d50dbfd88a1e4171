"""Published training recipes' networks, rebuilt so the ledger's ``counted`` analyses can count them.

Each builder returns an untrained ``nn.Module`` shaped like the network in the
named repository at the named commit: same layers, widths, kernel sizes and
frozen parameters (a frozen layer has no weight gradient to count). Numerics
that do not change the count (initialisation, half precision, ghost batch
norm, temperature scaling) are left out. Analyses name them as
``algoeff.estimate.archs.cifar:airbench94`` and so on.
"""
