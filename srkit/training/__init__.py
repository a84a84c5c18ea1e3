"""Training machinery shared by the training stages.

``loop`` (the iteration loop every stage runs: logs, saves, Ctrl-C, resume), ``recipes``
(losses, weights and rates as frozen dataclasses; TOML configs), ``trainer`` (one SR
optimisation step and its resumable state), ``dasr`` (the DSN's step and the dasr recipe's),
``ema`` (averaged weights), ``state`` (the resume file), ``distributed`` (DDP under
torchrun), ``validation`` (PSNR-Y on held-out pairs) and ``log`` (the CSV log). The stage
modules in :mod:`srkit.stages` put them together.
"""
