"""A VMC marionette made with PyPI `python-osc`: collects /VMC/Ext/Blend/Val values and prints
them as one JSON object per /VMC/Ext/Blend/Apply. Prints the bound port first. Exits after
COUNT applies or TIMEOUT seconds of silence.

usage: python3 vmc_receiver.py COUNT TIMEOUT
"""
import json
import sys

try:
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import BlockingOSCUDPServer
except ImportError as e:
    print(f"MISSING-MODULE {e}", flush=True)
    sys.exit(3)

count, timeout = int(sys.argv[1]), float(sys.argv[2])
state = {"blend": {}, "applies": 0, "time": None, "head": None, "ok": None}


def on_val(_addr, name, value):
    state["blend"][name] = value


def on_apply(_addr, *args):
    print(json.dumps({"blend": state["blend"], "time": state["time"], "head": state["head"],
                      "ok": state["ok"]}), flush=True)
    state["blend"] = {}
    state["applies"] += 1


def on_time(_addr, t):
    state["time"] = t


def on_bone(_addr, name, *pose):
    if name == "Head":
        state["head"] = list(pose)


def on_ok(_addr, *args):
    state["ok"] = list(args)


dispatcher = Dispatcher()
dispatcher.map("/VMC/Ext/Blend/Val", on_val)
dispatcher.map("/VMC/Ext/Blend/Apply", on_apply)
dispatcher.map("/VMC/Ext/T", on_time)
dispatcher.map("/VMC/Ext/Bone/Pos", on_bone)
dispatcher.map("/VMC/Ext/OK", on_ok)
server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
server.timeout = timeout
print(server.server_address[1], flush=True)
while state["applies"] < count:
    before = state["applies"]
    server.handle_request()  # returns after one datagram or the timeout
    if state["applies"] == before and not state["blend"]:
        break
