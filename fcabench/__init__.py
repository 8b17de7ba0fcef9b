"""fcabench: what a token-reduction method for BERT really buys — exact FLOPs per layer, accuracy, speed, memory."""

__version__ = "0.1.0"

from fcabench.profiler import closed_form_table, encoder_macs, profile  # noqa: E402
from fcabench import methods  # noqa: E402

__all__ = ["profile", "closed_form_table", "encoder_macs", "methods", "__version__"]
