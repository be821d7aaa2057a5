"""The built-in network zoo: well-known CNNs defined in code, nothing downloaded.

Each network is the unfused inference graph of a published architecture (convs, separate
BatchNormalization and activation nodes), built with :class:`cnnmem.ir.GraphBuilder` and
checked against its reference implementation's parameter and MAC counts::

    from cnnmem.zoo import build_network, list_networks

    graph = build_network("mobilenet_v2", resolution=(160, 160), width=0.5)
    for entry in list_networks():
        print(entry.name, entry.domain, entry.description)
"""

from cnnmem.zoo.registry import ZooEntry, build_network, get_entry, list_networks

__all__ = ["ZooEntry", "build_network", "get_entry", "list_networks"]
