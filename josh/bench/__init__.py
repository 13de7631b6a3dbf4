"""`josh bench`: synthetic ground truth, simulated front-ends, every method, field-standard metrics."""
