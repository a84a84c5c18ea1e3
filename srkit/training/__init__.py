"""Training machinery shared by the SR training stages.

``recipes`` (losses, weights and rates as frozen dataclasses; TOML configs), ``trainer`` (one
optimisation step and its resumable state), ``ema`` (averaged weights), ``state`` (the
resume file), ``distributed`` (DDP under torchrun), ``validation`` (PSNR-Y on held-out pairs)
and ``log`` (the CSV log). The stage modules in :mod:`srkit.stages` put them together.
"""
