#!/usr/bin/env python3
"""Checks the API against its own description with schemathesis, as an integrator would.

Starts `gongjian serve --demo` on a fresh SQLite database, finds real ids for the path
parameters and body references, then runs
schemathesis (configuration: schemathesis.toml, rules JSON Schema cannot state: hooks.py)
once as a street admin and once as a district admin. Exits non-zero on any failure.

Usage: run.py GONGJIAN_BINARY [SCHEMATHESIS_BINARY [SCHEMATHESIS_RUN_OPTIONS...]]
(e.g. `--seed 7 --max-examples 100` to explore beyond what CI runs).
"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base, token):
        self.base, self.token = base, token

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                text = res.read().decode()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            sys.exit(f"{method} {path}: {e.code} {e.read().decode()}")

    def first(self, path):
        items = self.call("GET", path)["items"]
        if not items:
            sys.exit(f"the demo has nothing at {path}")
        return items[0]["id"]


def main():
    binary = sys.argv[1]
    st = sys.argv[2] if len(sys.argv) > 2 else "schemathesis"
    extra = sys.argv[3:]
    work = Path(tempfile.mkdtemp(prefix="gongjian-schemathesis-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(work / "serve.log", "w+")
    server = subprocess.Popen(
        [binary, "--database", f"sqlite://{work}/api.db", "--log-format", "json",
         "serve", "--demo", "--listen", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        tokens = {}
        for _ in range(600):
            log.seek(0)
            text = log.read()
            for role in ("district admin", "street admin"):
                m = re.search(rf"^\s+{role}\s+(gj_\S+)", text, re.M)
                if m:
                    tokens[role] = m.group(1)
            if len(tokens) == 2:
                try:
                    urllib.request.urlopen(base + "/readyz", timeout=5)
                    break
                except OSError:
                    pass
            if server.poll() is not None:
                sys.exit(f"gongjian exited:\n{text}")
            time.sleep(0.1)
        else:
            sys.exit("gongjian did not get ready in 60 s")

        api = Api(base, tokens["street admin"])
        env = dict(os.environ)
        street = api.first("/api/v1/streets")
        community = api.first(f"/api/v1/streets/{street}/communities")
        ids = {
            "street": street,
            "community": community,
            "grid": api.first(f"/api/v1/streets/{street}/grids?community_id={community}"),
            "unit": api.first("/api/v1/units"),
            "volunteer": api.first("/api/v1/volunteers"),
            "resource": api.first("/api/v1/resources"),
            "project": api.first("/api/v1/projects"),
        }
        demands = api.call("GET", "/api/v1/demands?status=open")["items"]
        ids["demand"] = demands[0]["id"]
        # A dispatched demand gives an order to act on.
        api.call("POST", f"/api/v1/demands/{demands[1]['id']}/dispatch", {})
        ids["order"] = api.first(f"/api/v1/orders?demand_id={demands[1]['id']}")
        # A completed order gives a feedback link for the resident's side.
        offer = None
        for demand in demands[2:]:
            api.call("POST", f"/api/v1/demands/{demand['id']}/dispatch", {"offer_count": 1})
            order = api.call("GET", f"/api/v1/orders?demand_id={demand['id']}")["items"][0]
            order = api.call("GET", f"/api/v1/orders/{order['id']}")
            offer = next(o for o in order["offers"] if o["status"] == "open")
            if offer["candidate_kind"] == "volunteer":
                break
        else:
            sys.exit("no demand of the demo was offered to a volunteer")
        volunteer = Api(base, api.call("POST", "/api/v1/tokens", {
            "role": "volunteer", "name": "schemathesis", "volunteer_id": offer["candidate_id"],
        })["token"])
        for action, body in (("accept", {}), ("start", {}),
                             ("complete", {"service_minutes": 30, "note": "已完成"})):
            volunteer.call("POST", f"/api/v1/orders/{order['id']}/{action}", body)
        link = api.call("POST", f"/api/v1/orders/{order['id']}/feedback-link", {})
        ids["feedback"] = link["token"]
        version = api.call("POST", f"/api/v1/streets/{street}/plugins", {
            "kind": "rhai",
            "source": (HERE.parents[1] / "plugins" / "rhai" / "default-rule.rhai").read_text(),
            "note": "schemathesis",
        })
        ids["version"] = version["id"]
        for name, value in ids.items():
            env[f"GJ_{name.upper()}"] = value
        env["GJ_BASE_URL"] = base
        env["SCHEMATHESIS_HOOKS"] = str(HERE / "hooks.py")

        failed = False
        for role in ("street admin", "district admin"):
            print(f"\n==> schemathesis as the {role}", flush=True)
            env["GJ_TOKEN"] = tokens[role]
            result = subprocess.run(
                [st, "--config-file", str(HERE / "schemathesis.toml"), "run",
                 f"{base}/api/v1/openapi.json", *extra],
                env=env, cwd=work,
            )
            failed |= result.returncode != 0
        if failed:
            log.seek(0)
            errors = [l for l in log if '"level":"ERROR"' in l]
            print("".join(errors[-20:]))
        sys.exit(1 if failed else 0)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
