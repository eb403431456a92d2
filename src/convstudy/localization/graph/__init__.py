"""The graph model: an ONNX graph read as layers, and the layers of two graphs matched.

Everything here works on ``onnx`` and ``numpy`` alone; nothing runs a model.
"""
