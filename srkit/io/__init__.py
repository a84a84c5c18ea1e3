"""Everything that touches files: images, pools, model checkpoints, atomic writes."""
