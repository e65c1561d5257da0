"""Feeding stored window sets to models.

`virtimu.data.torch_dataset` serves a window set of a `WindowStore` to torch:
a map-style `WindowDataset` that reads decoded chunks through a small LRU
cache (never the whole set), a `ChunkShuffleSampler` that shuffles chunk
groups so that each chunk is decoded once per epoch, and `make_loader`,
which builds a `WindowLoader` from both (in-process: chunks decoded ahead,
one copy per batch; with workers: a torch `DataLoader`).  Import it as
``from virtimu.data.torch_dataset import make_loader`` (torch is imported
only then).
"""
