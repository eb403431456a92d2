"""convstudy: what happens to deep-learning models when they are converted.

Importing the package imports no deep-learning framework: every module that needs
torch, TensorFlow, onnxruntime or coremltools imports it inside the function that uses it.
"""

__version__ = "0.1.0"
