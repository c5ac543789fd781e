"""Receives Live Link Face packets and decodes them with PyPI `pylivelinkface` (an
independent decoder). Prints the bound port on the first line, then one JSON object per
packet. Exits after COUNT packets or TIMEOUT seconds of silence.

usage: python3 livelink_receiver.py COUNT TIMEOUT
"""
import json
import socket
import sys

try:
    from pylivelinkface import FaceBlendShape, PyLiveLinkFace
except ImportError as e:  # named so the Rust test can point at the setup step
    print(f"MISSING-MODULE {e}", flush=True)
    sys.exit(3)

count, timeout = int(sys.argv[1]), float(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
sock.settimeout(timeout)
print(sock.getsockname()[1], flush=True)
for _ in range(count):
    try:
        data = sock.recv(2048)
    except socket.timeout:
        break
    ok, face = PyLiveLinkFace.decode(data)
    print(json.dumps({
        "ok": ok,
        "subject": face.name,
        "device": face.uuid,
        "fps": face.fps,
        "jaw_open": face.get_blendshape(FaceBlendShape.JawOpen),
        "values": list(face._blend_shapes),
    }), flush=True)
