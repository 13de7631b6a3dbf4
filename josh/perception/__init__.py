"""Built-in CPU front-ends: video decoding, people (pose, tracks, masks), local body fit, contacts.

Submodules are imported on demand (``from josh.perception.people import detect_people``), so that
importing the package does not load MediaPipe, PyAV or torch.
"""
