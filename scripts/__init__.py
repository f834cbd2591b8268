"""Developer scripts: load test, echo baseline, protocol doc generator, terminal client."""
