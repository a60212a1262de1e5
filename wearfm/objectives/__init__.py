"""Pretraining objectives: each loss takes embeddings (tensors), never a model; one concept per file.

Add one import line per objective module.
"""

from wearfm.objectives.infonce import InfoNCELoss
from wearfm.objectives.nn_queue import NNQueue
from wearfm.objectives.ntxent import NTXentLoss
from wearfm.objectives.primus import PrimusLoss
from wearfm.objectives.relcon import RelConLoss
from wearfm.objectives.siglip import SigLIPLoss

__all__ = ["InfoNCELoss", "NNQueue", "NTXentLoss", "PrimusLoss", "RelConLoss", "SigLIPLoss"]
