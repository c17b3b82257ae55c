"""Errors of :mod:`node.models`: a model that cannot be found, verified or read.

::

    NodeError (node.errors)
    └── ModelError            a model file could not be provided
        ├── ModelNotFound     no shipped model of that name is installed, a chunk package or
        │                     file is missing, or a path does not exist
        ├── ModelCorrupt      the bytes do not match the pinned or package-stated sha256 / size
        └── ModelFormatError  the file is not GGUF (magic bytes), or llama.cpp cannot load it

Every message names the model and the file, and says what to do (install the package, delete
the cached copy, pass a GGUF file).
"""

from __future__ import annotations

from node.errors import NodeError


class ModelError(NodeError):
    """A model file could not be provided."""


class ModelNotFound(ModelError):
    """A named model is not installed, or a model path or chunk does not exist."""


class ModelCorrupt(ModelError):
    """A model's bytes do not match the expected sha256 or size."""


class ModelFormatError(ModelError):
    """A model file is not in the GGUF format, or the runtime cannot load it."""
