"""Pure rules of masking: no I/O, time passed in as a parameter."""
