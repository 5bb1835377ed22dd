"""The presentation layer shared by the CLI, the GUI and reports: how figures are worded.

    numbers: money, per-answer cost, durations, rates, bytes (format_bytes for memory,
             format_size for the terminal's file and plan sizes), counts (never scientific
             notation, thousands separators, the unit a row names)
    fit:     the words of the planner's fit labels (full GPU, partial offload, CPU only, does
             not fit) for badges, tables and sentences
    plans:   a memory plan in words: where the layers go, what each device holds, the
             predicted speed (the Discover page, the Start page, the memory preview, the CLI)
    metrics: the one table of metric labels, units and definitions (tooltips, tables)
    axis:    round chart ticks (1-2-5 steps)
    conversation_export: a stored conversation as Markdown or JSON

Qt-free, above the planner and the engine (it reads their typed plans and metrics) and below
the Hub, the providers and the costs: the GUI, the CLI and exported reports all read the same
rules from here. Nothing else words a fit, formats bytes or defines a metric.
"""
