"""Hyperparameter sweeps: the trial list a spec defines, and how far a sweep has come.

Pure: ``trials`` turns a TrainingJob with ``spec.sweep`` into its ordered trials, each an
ordinary run with its own hash; ``progress`` reads the live runs and decides which trials start
now, which is best and whether the sweep has ended. Nothing here is remembered between
reconciles: every decision follows from the spec and the runs in the cluster (docs/sweeps.md).
"""
