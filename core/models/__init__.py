"""Face models: contracts, the manifest, locating and verifying files, ONNX sessions and the model classes."""
