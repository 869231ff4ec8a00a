"""galfm: a multimodal foundation model for galaxies, plugged into Hugging Face ``transformers``.

Importing galfm registers its classes with the Auto API, so ``AutoConfig``, ``AutoModel``, ``AutoProcessor``
and ``AutoFeatureExtractor`` load galfm folders and Hub repos without ``trust_remote_code``; folders saved by
galfm also carry their code and ``auto_map`` for users who have not installed galfm.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    AutoProcessor,
)

from .configuration_galfm import PRESET_PARAMETERS, PRESETS, GalFMConfig, GalFMHeadConfig, GalFMPretrainingConfig
from .filters_galfm import available_bands, band_summary, load_filter
from .heads_galfm import (
    GalFMForMorphologyClassification,
    GalFMForPosteriorEstimation,
    GalFMForPropertyPrediction,
    GalFMForStarFormationHistory,
    load_head,
)
from .hub_cache import place_in_hf_cache
from .modalities import MODALITIES, register_modality, select_modalities
from .modality_base import GalaxyInputError, Modality
from .modeling_galfm import TOKEN_TYPES, GalFMModel, GalFMModelOutput, GalFMPreTrainedModel
from .pretraining_galfm import GalFMForPretraining, GalFMPretrainingOutput
from .processing_galfm import GalFMProcessor
from .properties_galfm import EMISSION_LINES, PROPERTIES, SFH_AGE_BIN_EDGES_GYR
from .search_galfm import GalaxyIndex, embed_galaxies

__version__ = "0.1.0"

AutoConfig.register(GalFMConfig.model_type, GalFMConfig, exist_ok=True)
AutoModel.register(GalFMConfig, GalFMModel, exist_ok=True)
AutoModelForPreTraining.register(GalFMConfig, GalFMForPretraining, exist_ok=True)
AutoModelForImageClassification.register(GalFMConfig, GalFMForMorphologyClassification, exist_ok=True)
AutoProcessor.register(GalFMConfig, GalFMProcessor, exist_ok=True)
AutoFeatureExtractor.register(GalFMConfig, GalFMProcessor, exist_ok=True)
# Saved folders carry the code and an auto_map, so they load with trust_remote_code where galfm is absent.
GalFMConfig.register_for_auto_class()
GalFMModel.register_for_auto_class("AutoModel")
GalFMForPretraining.register_for_auto_class("AutoModelForPreTraining")
GalFMProcessor.register_for_auto_class("AutoProcessor")
GalFMForMorphologyClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "EMISSION_LINES", "MODALITIES", "Modality", "GalFMHeadConfig", "GalFMPretrainingConfig", "register_modality",
    "select_modalities", "PRESETS", "PRESET_PARAMETERS", "PROPERTIES", "SFH_AGE_BIN_EDGES_GYR", "TOKEN_TYPES",
    "GalFMConfig", "GalFMForMorphologyClassification", "GalFMForPosteriorEstimation", "GalFMForPretraining",
    "GalFMForPropertyPrediction", "GalFMForStarFormationHistory", "GalFMModel", "GalFMModelOutput",
    "GalFMPretrainingOutput",
    "GalFMPreTrainedModel", "GalFMProcessor", "GalaxyInputError", "available_bands", "band_summary", "load_filter",
    "GalaxyIndex", "embed_galaxies", "load_head", "place_in_hf_cache",
]
