"""``selfimprove analyze``: instruments that explain a run (paper appendix B.2, B.6-B.8).

Each submodule reads a run directory, may answer problems with its round checkpoints, and writes
``analysis/<name>.json`` + ``analysis/<name>.png`` into it; ``selfimprove report`` adds a section
for every one of those it finds (``sections.py``). Ground truth is used throughout, so nothing
here may feed back into a run: these are diagnostics, read after the fact.

    errors     taxonomy of wrong labels and wrong evaluation answers   (errors.py)
    carries    accuracy by carry-chain length, carries in training data (carry_eval.py)
    memorised  wrong kept labels over later rounds; data vs next-length (memorised.py)
    sweep      one table and plot over the run directories of a sweep   (sweep.py)
"""
