"""One technique per module; ``STAGES`` maps a recipe stage kind to its stage class.

A stage module holds the technique's frozen config (``config_class``: validation, defaults,
``from_dict``/``to_dict``) and its implementation behind the ``Stage`` protocol
(``compress.stages.base``), with its order rules (``check_order``) and training hooks
(``callbacks``, ``hooks_ran``, ``fit_hooks``, ``wrap_later``, ``restore``). The recipe loader, the session
and the callbacks read this one registry. Adding a technique: one module, one entry here
(or ``STAGES["kind"] = MyStage`` from outside the package).

No TensorFlow here: stages reach the framework through the engine in their context.
"""

from __future__ import annotations

from typing import Any

from compress.stages.base import Stage, StageContext  # noqa: F401
from compress.stages.cluster import Cluster
from compress.stages.distill import Distill
from compress.stages.finetune import Finetune
from compress.stages.prune import Prune
from compress.stages.prune_channels import PruneChannels
from compress.stages.qat import Qat

#: recipe ``kind`` -> stage class
STAGES: dict[str, type] = {"prune": Prune, "qat": Qat, "finetune": Finetune,
                           "distill": Distill, "cluster": Cluster,
                           "prune_channels": PruneChannels}


def make_stage(config: Any) -> Stage:
    """The stage object for a stage config (``config.kind`` names its class in ``STAGES``)."""
    return STAGES[config.kind](config)
