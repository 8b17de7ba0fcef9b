"""Counting: exact MACs per layer of a model as it runs (``profiler``), several methods side by side against
vanilla (``comparison``), per-example counts where the cost depends on the input (``dynamic``), the counters set
beside each other (``check``), and MAC budgets turned into a method's knob (``budget``)."""
