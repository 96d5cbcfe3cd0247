"""Fed-Span learning layer: spanning-tree federated learning over satellite constellations."""

from fedspan.errors import FedSpanError

__version__ = "0.1.0"
__all__ = ["FedSpanError", "__version__"]
