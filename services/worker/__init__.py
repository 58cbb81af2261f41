"""The streaming worker: a Faust app whose agent feeds batches to the detector core."""
