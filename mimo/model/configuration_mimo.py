"""``MiMoConfig``: a Qwen2 config plus the multi-token-prediction (MTP) fields of Xiaomi's MiMo-7B.

The released checkpoints (``XiaomiMiMo/MiMo-7B-*``) ship ``model_type="mimo"`` and
``num_nextn_predict_layers``; their ``config.json`` loads into this class unchanged (legacy keys such as
``rope_theta``, ``torch_dtype``, ``use_mrope`` and ``attention_bias`` are accepted as in Qwen2).

This module imports only ``transformers`` so that it can be copied next to a checkpoint as remote code.
"""

from huggingface_hub.dataclasses import strict
from transformers import Qwen2Config

#: Accepted values of ``MiMoConfig.mtp_hidden_source``.
MTP_HIDDEN_SOURCES = ("previous", "main")


@strict
class MiMoConfig(Qwen2Config):
    """Qwen2 decoder config with MTP layers.

    Extra fields:

    - ``num_nextn_predict_layers``: number of MTP layers (``model.mtp_layers.{k}``); 1 in the released
      checkpoints, 3 after the post-pretraining MTP expansion. 0 gives a plain Qwen2 body.
    - ``mtp_loss_weight``: default λ in ``loss = CE_main + λ · mean_k CE_mtp_k`` (a forward argument
      overrides it; the recipe uses 0.3 for the first ~10.3T tokens, then 0.1).
    - ``mtp_hidden_source``: what MTP layer ``k >= 1`` takes as its hidden input: ``"previous"`` (the
      output of layer ``k-1`` before its ``final_layernorm``, DeepSeek-V3 style chaining, default) or
      ``"main"`` (the main model's last hidden state for every layer). Layer 0 always takes the main
      model's last-layer hidden state before the final norm.
    """

    model_type = "mimo"

    # MiMo-7B values where they differ from Qwen2's defaults
    rms_norm_eps: float = 1e-5
    attention_bias: bool = True  # informational: Qwen2 attention always has a QKV bias

    num_nextn_predict_layers: int = 0
    mtp_loss_weight: float | int = 0.3
    mtp_hidden_source: str = "previous"

    def __post_init__(self, **kwargs):
        if self.num_nextn_predict_layers < 0:
            raise ValueError(f"num_nextn_predict_layers must be >= 0, got {self.num_nextn_predict_layers}")
        if self.mtp_hidden_source not in MTP_HIDDEN_SOURCES:
            raise ValueError(f"mtp_hidden_source must be one of {MTP_HIDDEN_SOURCES}, "
                             f"got {self.mtp_hidden_source!r}")
        super().__post_init__(**kwargs)


__all__ = ["MTP_HIDDEN_SOURCES", "MiMoConfig"]
