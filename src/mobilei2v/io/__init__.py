"""Files in and out: atomic writes, images, videos (PyAV), and model folders checked before loading."""
