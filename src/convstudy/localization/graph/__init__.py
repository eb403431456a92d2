"""The graph model: an ONNX graph read as layers, and the layers of two graphs matched.

- :mod:`.onnx_graph`: a read-only index of one ONNX graph (:mod:`.folding`: its constants);
- :mod:`.layout`: axis orders (NCHW, NHWC) and aligning two tensors of one value;
- :mod:`.roles`: each node's role and each data tensor's layout;
- :mod:`.cores`, :mod:`.canonical`, :mod:`.post_ops`: a layer's core per op type, its
  converter-neutral parameters and hyperparameters, the post-ops after it;
- :mod:`.layers`: the layers of one graph; :mod:`.matching`: two graphs' layers aligned.

Everything here works on ``onnx`` and ``numpy`` alone; nothing runs a model.
"""
