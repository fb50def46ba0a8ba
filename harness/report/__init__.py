"""Results store, matrix, one renderer per format, and the gate."""
