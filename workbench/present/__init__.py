"""The presentation layer shared by the CLI, the GUI and reports: how figures are worded.

    numbers: money, per-answer cost, durations, rates, sizes, token counts (never scientific
             notation, thousands separators, the unit a row names)
    axis:    round chart ticks (1-2-5 steps)

Qt-free: the GUI, the CLI and exported reports all read the same rules from here.
"""
