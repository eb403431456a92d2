"""What goes in and comes out of a localization.

- :mod:`.inputs`: checked models and inputs (bad input: one-line errors);
- :mod:`.views`: any model the study handles, seen as ONNX and verified;
- :mod:`.report`: a localization as Markdown and as a figure;
- :mod:`.schema`: the JSON schema of a localization document.
"""
