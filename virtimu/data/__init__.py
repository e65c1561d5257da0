"""Feeding stored window sets to models.

`virtimu.data.torch_dataset` serves a window set of a `WindowStore` to torch:
a map-style `WindowDataset` that reads compressed chunks through a small LRU
cache (never the whole set), a `ChunkShuffleSampler` that shuffles chunk
groups so that each chunk is decompressed about once per epoch, and
`make_loader`, which builds the `DataLoader` from both.  Import it as
``from virtimu.data.torch_dataset import make_loader`` (torch is imported
only then).
"""
