"""What the chaos run (bench/chaos) needs from the simulator.

- A witness: every recorded call appended to a file as one JSON line, with
  what the simulator knew when the call arrived: whether the Authorization
  was the exact platform triple, which instance the Element token belongs
  to (now or in the past), and whether it was live.  Tokens appear only as
  a short SHA-256 prefix, so the witness file holds no token and no secret.
- A token history: every token the simulator ever issued, with the
  instance and name it was issued for (GET /_sim/tokens), so that a run
  can look for each of them in logs and captures.
- A state file: instances, ids, tokens, OAuth codes and the history are
  written when the simulator stops and read when it starts, so that a
  restarted simulator is the same Open Connectors (only connections and
  the call log are lost).

Python 3 standard library only.
"""

import hashlib
import json
import os
import threading
import time

from ocsim_api import json_response, parse_auth
from ocsim_state import DEFAULT_ACCOUNT, ApiError


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class Chaos:
    def __init__(self, sim, witness_path=None, state_path=None):
        self.sim = sim
        self.state_path = state_path
        self.lock = threading.Lock()
        self.history = {}       # token -> {"id": .., "name": ..}
        self.stopping = False   # POST /_sim/shutdown: no new call
        self.witness = None
        if state_path and os.path.exists(state_path):
            self.load()
        if witness_path:
            self.witness = open(witness_path, "a", buffering=1)

    # ---- token history ---------------------------------------------------

    def scan(self):
        st = self.sim.state
        with st.lock:
            seen = [(i["token"], i["id"], i["name"])
                    for i in st.instances.values()]
        with self.lock:
            for token, inst_id, name in seen:
                if token not in self.history:
                    self.history[token] = {"id": inst_id, "name": name}

    # ---- the witness -----------------------------------------------------

    def record(self, req, endpoint):
        if self.witness is None:
            return
        self.scan()
        settings = self.sim.settings
        auth = req.headers.get("Authorization")
        parts = parse_auth(auth) or {}
        token = parts.get("element")
        line = {"t": round(time.time(), 4), "ep": endpoint,
                "rid": req.headers.get("X-Chaos-Rid"),
                "loc": req.headers.get("X-Chaos-Loc"),
                "auth": "none" if auth is None else "other"}
        if token is not None:
            exact = "User %s, Organization %s, Element %s" % (
                settings.user_secret, settings.org_secret, token)
            line["auth"] = "triple" if auth == exact else "bad-triple"
            line["tok"] = token_hash(token)
            with self.lock:
                known = self.history.get(token)
            line["tok_id"] = known and known["id"]
            line["tok_name"] = known and known["name"]
            inst = self.sim.state.by_token(token)
            line["live"] = bool(inst is not None and not inst["deleted"]
                                and not inst["oauth_dead"])
        elif auth is not None:
            platform = "User %s, Organization %s" % (settings.user_secret,
                                                     settings.org_secret)
            if auth == platform:
                line["auth"] = "platform"
            elif settings.user_secret in auth or settings.org_secret in auth:
                line["auth"] = "bad-platform"
            else:
                # what a client sent through a location without oc_pass
                line["client"] = token_hash(auth)
        with self.lock:
            self.witness.write(json.dumps(line) + "\n")

    # ---- control ---------------------------------------------------------

    def control(self, method, path):
        """The answer to a chaos control call, or None if it is not one."""
        if (method, path) == ("GET", "/_sim/tokens"):
            self.scan()
            with self.lock:
                return json_response({"tokens": [
                    dict(v, token=k, hash=token_hash(k))
                    for k, v in self.history.items()]})
        if (method, path) == ("POST", "/_sim/save"):
            self.save()
            return json_response({"ok": True})
        if (method, path) == ("POST", "/_sim/shutdown"):
            self.stopping = True
            threading.Thread(target=self.shutdown, daemon=True).start()
            return json_response({"ok": True})
        return None

    def shutdown(self):
        """Stop at once with the state saved: under the state lock, so
        that no call changes it after the save, and no answer leaves for a
        change that was not saved."""
        time.sleep(0.05)
        with self.sim.state.lock:
            if self.state_path:
                self.save()
            with self.lock:
                if self.witness is not None:
                    self.witness.flush()
            os._exit(0)

    # ---- the state file ---------------------------------------------------

    def save(self):
        if not self.state_path:
            raise ApiError(400, "no --state-file")
        self.scan()
        st = self.sim.state
        with st.lock, self.lock:
            data = {"next_id": st.next_id,
                    "instances": list(st.instances.values()),
                    "codes": dict(st.codes),
                    "consent_auto": st.consent_auto,
                    "history": self.history}
            tmp = self.state_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f)
            os.replace(tmp, self.state_path)

    def load(self):
        with open(self.state_path) as f:
            data = json.load(f)
        st = self.sim.state
        with st.lock:
            st.next_id = data["next_id"]
            st.instances = {}
            st.by_element.clear()
            st.by_tag.clear()
            st.live_order = []
            for inst in data["instances"]:
                inst["rendered"] = None
                st.instances[inst["id"]] = inst
                if not inst["deleted"]:
                    st.index_add(inst)
            codes = data["codes"]
            st.codes = (dict(codes) if isinstance(codes, dict)
                        else {c: DEFAULT_ACCOUNT for c in codes})
            st.consent_auto = data["consent_auto"]
        self.history = data["history"]
