"""cnnmem: on-chip memory requirements of CNNs, and how to make them smaller.

See the README for the command line; the public Python API is re-exported from
:mod:`cnnmem.api`.
"""

__version__ = "0.1.0"
