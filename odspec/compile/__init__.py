"""Pure compilation: spec + catalogue -> pipeline.config and label map bytes."""
