"""nexus: the source of truth for the LLM inference backends a router knows.

A ``Registry`` stores each ``Backend`` (Ollama, vLLM, llama.cpp, Exo, OpenAI-compatible, LM Studio),
its ``Model`` list and health, keeps a model -> backends index, and tracks live load in C11 atomics.
"""

import logging

from nexus._select_py import STRATEGIES, SmartWeights
from nexus._version import __version__
from nexus.backend import Backend, BackendView
from nexus.config import load_config
from nexus.counters import USING_EXTENSION
from nexus.enums import BackendStatus, BackendType, DiscoverySource
from nexus.errors import BackendNotFoundError, ConfigError, DuplicateBackendError, RegistryError
from nexus.model import Model
from nexus.registry import Registry

__all__ = [
    "STRATEGIES",
    "USING_EXTENSION",
    "Backend",
    "BackendNotFoundError",
    "BackendStatus",
    "BackendType",
    "BackendView",
    "ConfigError",
    "DiscoverySource",
    "DuplicateBackendError",
    "Model",
    "Registry",
    "RegistryError",
    "SmartWeights",
    "__version__",
    "load_config",
]

logging.getLogger("nexus").addHandler(logging.NullHandler())
