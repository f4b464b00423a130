"""Training loops (pretraining stages, MTP expansion, SFT): runnable without Dagster."""
