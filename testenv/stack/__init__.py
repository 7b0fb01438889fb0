"""The offline stack (tier T2): dockerd, kind and every image of the bundle, built from the pinned sources.

Test infrastructure only, never part of the product: it mirrors the upstream artifacts the way an
air-gapped operator would, from the Go module proxy and Debian's packages.
"""
