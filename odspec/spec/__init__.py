"""The project spec: models, YAML loading with a source map, and checks."""
