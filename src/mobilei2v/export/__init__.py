"""On-device export (docs/export.md): the attention rewrites for Apple's Neural Engine, each proven equal to
the plain module, the three stages as static-shape programs, and their Core ML, ONNX and ExecuTorch builds."""
