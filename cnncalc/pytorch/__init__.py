"""The torch bridge: a spec built as an ``nn.Module`` (``bridge``), run and compared with the
analysis (``verification``), or written out as standalone source (``export``); LeNet-5's own
modules (``lenet``). torch is imported inside functions only, so that importing this package
costs nothing until a command needs torch."""
