"""Speed and memory: interleaved latency and allocator peaks (``bench``), time per layer and component
(``layer_time``), and the resident-set growth the operating system sees (``resident``)."""
