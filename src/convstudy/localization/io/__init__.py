"""What goes in and comes out: inputs, models seen as ONNX, the report, the JSON schema."""
