"""Helper code the tests import: synthetic data writers, references, the fuzzing harness."""
