"""course_lib: the small PyTorch library the course's notebooks import.

One idea per file: `device` (where tensors live, seeding), `data` (bundled
datasets), `models` (PCA, autoencoders), `train` (one training loop),
`checkpoints` (safetensors, 'load if shipped, else train'), `metrics`,
`viz` (pictures) and `widgets` (ipywidgets explorers).
"""

from course_lib.device import get_device, seed_everything

__all__ = ["get_device", "seed_everything"]
__version__ = "0.1.0"
