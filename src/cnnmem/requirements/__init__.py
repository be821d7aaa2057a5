"""Memory requirements across network domains: on-chip size vs off-chip bandwidth.

- :mod:`~cnnmem.requirements.scenarios` - the per-layer dataflow scenarios S1..S5 as families
  of single-layer DSE schedules, costed by :func:`cnnmem.dse.cost.evaluate`'s model;
- :mod:`~cnnmem.requirements.analysis` - :func:`analyse`: per-layer and per-network minima,
  S6 (fused groups, from :func:`cnnmem.dse.explore.explore`), the trade-off curve, design
  points for a budget;
- :mod:`~cnnmem.requirements.export` - JSON (``cnnmem.requirements/1``) and CSV;
- :mod:`~cnnmem.requirements.suite` - the built-in domain suite.
"""

from cnnmem.requirements.analysis import (
    DesignChoice,
    LayerRequirements,
    NetworkPoint,
    RequirementsReport,
    Throughput,
    TradeoffPoint,
    analyse,
    throughput,
)
from cnnmem.requirements.export import SCHEMA, layers_csv, report_dict, suite_csv
from cnnmem.requirements.scenarios import (
    LAYER_SCENARIOS,
    Family,
    Scenario,
    ScenarioPoint,
    layer_families,
)
from cnnmem.requirements.suite import SUITE, SuiteNetwork

__all__ = [
    "LAYER_SCENARIOS",
    "SCHEMA",
    "SUITE",
    "DesignChoice",
    "Family",
    "LayerRequirements",
    "NetworkPoint",
    "RequirementsReport",
    "Scenario",
    "ScenarioPoint",
    "SuiteNetwork",
    "Throughput",
    "TradeoffPoint",
    "analyse",
    "layer_families",
    "layers_csv",
    "report_dict",
    "suite_csv",
    "throughput",
]
