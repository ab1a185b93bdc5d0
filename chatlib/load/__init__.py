"""Load runs: how a provider holds up at a product's traffic. One or more targets through
levels of concurrency or request rate (or a sweep that finds the range), each level held to
SLOs: throughput, latency percentiles, goodput, errors by kind, and the knee, in words.

``spec`` says what a run asks; ``workload`` and ``arrivals`` what each level sends and when;
``generator`` sends a level and measures itself; ``levels`` and ``knee`` are the arithmetic;
``run`` drives a whole run and keeps it; ``report`` exports it."""
