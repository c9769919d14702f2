"""Training the QLoRA adapter arm: config, data preparation, leakage guard, trainer, store.

Kept free of heavy imports: `harness.config` imports `harness.train.config` for the suite's
`train` section, and loading a suite must not pull in torch.
"""

import logging

# bitsandbytes warns, whenever it is imported on CPU, that an optional kernel package is missing;
# its pure-torch fallback is what we use. Set before anything imports bitsandbytes.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
