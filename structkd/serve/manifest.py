"""The names of an export folder's files and of its format (see :mod:`structkd.export`)."""
FORMAT = "structkd-onnx"
VERSION = 1
MANIFEST_FILE = "manifest.json"
ARRAYS_FILE = "arrays.safetensors"
ENCODER_FOLDER = "encoder"
