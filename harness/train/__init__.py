"""Training the QLoRA adapter arm: config, data preparation, leakage guard, trainer, store.

Kept free of heavy imports: loading a suite (whose `train` section is
`harness.spec.train.TrainConfig`) must not pull in torch.
"""

import logging

# bitsandbytes warns, whenever it is imported on CPU, that an optional kernel package is missing;
# its pure-torch fallback is what we use. Set before anything imports bitsandbytes.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
