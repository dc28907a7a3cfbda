"""Adapters that break the protocol, for the harness's own tests:
    python3 misbehaving.py crash|hang|garbage|wrong-id|no-handshake"""

import json
import sys
import time

mode = sys.argv[1]
if mode == "no-handshake":
    sys.exit(0)
print(json.dumps({"protocol": "tokenstore-adapter/1", "store": mode,
                  "capabilities": {"durable": False, "files": [], "limits": {}}}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    if mode == "crash":
        sys.exit(1)
    if mode == "hang":
        time.sleep(3600)
    if mode == "garbage":
        print("Traceback (most recent call last): oops", flush=True)
    if mode == "wrong-id":
        print(json.dumps({"id": request["id"] + 1000, "ok": None}), flush=True)
