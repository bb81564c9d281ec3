#!/usr/bin/env python3
"""Open Connectors simulator for the ngx_oc_module test suite.

Serves the platform and hub API of SAP Open Connectors for the Pipedrive
element, as described (assumptions included) in
shared/reference/open-connectors-api.md, plus a control interface under
/_sim/ for tests: recorded calls, reset, injected faults, direct access to
instances, event notifications sent to an instance's callback URL.  The
simulated Pipedrive consent page (/_sim/consent) takes an optional
"account" argument, the Pipedrive company+user who signs in (one default
account otherwise), as POST /_sim/codes takes {"account": ...}: the
one-token rule holds per app and account.  Python 3 standard library only.

    ocsim.py --listen 127.0.0.1:0 [--user-secret U] [--org-secret O]
             [--page-size N] [--tls-cert FILE --tls-key FILE]
             [--verbose] [--watch-parent]
"""

import argparse
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# Run from the source tree without leaving __pycache__ in it.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ocsim_chaos import Chaos  # noqa: E402
from ocsim_api import (CONSENT_PATHS, Request, Response,  # noqa: E402
                       error_response, json_response, route)
from ocsim_events import send_event  # noqa: E402
from ocsim_state import ApiError, State  # noqa: E402


class Settings:
    def __init__(self, args):
        self.user_secret = args.user_secret
        self.org_secret = args.org_secret
        self.verbose = args.verbose
        self.base_url = None


# ---- faults ---------------------------------------------------------------

FAULT_KEYS = {"endpoint", "count", "delay", "status", "body", "close",
              "headers", "reset"}


def parse_fault(spec):
    if not isinstance(spec, dict) or not isinstance(spec.get("endpoint"), str):
        raise ApiError(400, "A fault needs an \"endpoint\" string")
    unknown = set(spec) - FAULT_KEYS
    if unknown:
        raise ApiError(400, "Unknown fault fields: " + ", ".join(sorted(unknown)))
    fault = dict(spec)
    fault["count"] = spec.get("count", 1)
    checks = [
        isinstance(fault["count"], int) and fault["count"] >= 1,
        isinstance(spec.get("delay", 0), (int, float)) and spec.get("delay", 0) >= 0,
        spec.get("status") is None or (isinstance(spec["status"], int)
                                       and 100 <= spec["status"] <= 599),
        spec.get("body") is None or isinstance(spec["body"], str),
        isinstance(spec.get("headers", {}), dict),
    ]
    if not all(checks):
        raise ApiError(400, "Invalid fault: count >= 1, delay >= 0, status "
                       "100-599, body a string, headers an object")
    return fault


def fault_response(fault):
    """The answer that replaces the normal one for a status/body fault."""
    kind = fault.get("body")
    if kind is None:
        return error_response(fault["status"], "Injected fault")
    status = fault.get("status") or 200
    body = {"malformed": b'{"requestId": "x", "message": [unterminated',
            "empty": b""}.get(kind, kind.encode())
    return Response(status, body)


# ---- the simulator: state, recorded calls, faults, control -----------------

class Sim:
    def __init__(self, settings, page_size):
        self.settings = settings
        self.state = State(page_size)
        self.lock = threading.Lock()
        self.calls = []
        self.counts = {}
        self.faults = {}
        self.chaos = None
        # API calls being answered now, the most at once since the last
        # reset, and a delay added to every API call (seconds)
        self.inflight = 0
        self.peak = 0
        self.latency = 0.0

    def enter(self):
        with self.lock:
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
            return self.latency

    def leave(self):
        with self.lock:
            self.inflight -= 1

    def record(self, req, endpoint):
        call = {"method": req.method, "path": req.path,
                "query": req.query_string, "endpoint": endpoint,
                "authorization": req.headers.get("Authorization"),
                "headers": [[k, v] for k, v in req.headers.items()],
                "body": req.raw_body.decode("utf-8", "replace"),
                "time": time.time()}
        with self.lock:
            self.calls.append(call)
            self.counts[endpoint] = self.counts.get(endpoint, 0) + 1
        if self.chaos is not None:
            self.chaos.record(req, endpoint)

    def take_fault(self, endpoint):
        with self.lock:
            for key in (endpoint, "*"):
                queue = self.faults.get(key)
                if queue:
                    fault = queue[0]
                    fault["count"] -= 1
                    if fault["count"] == 0:
                        queue.pop(0)
                    return dict(fault)
        return None

    def reset(self, everything):
        with self.lock:
            self.calls = []
            self.counts = {}
            self.faults = {}
            self.peak = self.inflight
            self.latency = 0.0
        if everything:
            self.state.reset_all()

    # Control requests are neither recorded nor subject to faults.
    def control(self, method, path, query_string, raw_body):
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            return error_response(400, "The request body is not valid JSON")
        try:
            return self.control_call(method, path, parse_qs(query_string), body)
        except ApiError as e:
            return error_response(e.status, e.message)

    def control_call(self, method, path, query, body):
        st = self.state
        if (method, path) == ("GET", "/_sim/health"):
            return json_response({"ok": True})
        if (method, path) == ("GET", "/_sim/calls"):
            with self.lock:
                return json_response({"counts": dict(self.counts),
                                      "calls": list(self.calls)})
        if (method, path) == ("POST", "/_sim/reset"):
            self.reset(query.get("all", ["0"])[0] not in ("", "0"))
            return json_response({"ok": True})
        if (method, path) == ("POST", "/_sim/fault"):
            fault = parse_fault(body)
            with self.lock:
                self.faults.setdefault(fault["endpoint"], []).append(fault)
            return json_response({"ok": True})
        if (method, path) == ("DELETE", "/_sim/fault"):
            with self.lock:
                self.faults = {}
            return json_response({"ok": True})
        if (method, path) == ("GET", "/_sim/inflight"):
            with self.lock:
                return json_response({"inflight": self.inflight,
                                      "peak": self.peak})
        if (method, path) == ("POST", "/_sim/latency"):
            delay = (body or {}).get("seconds")
            if not isinstance(delay, (int, float)) or not 0 <= delay <= 60:
                raise ApiError(400, "seconds must be a number from 0 to 60")
            with self.lock:
                self.latency = float(delay)
            return json_response({"seconds": self.latency})
        if (method, path) == ("POST", "/_sim/instances/bulk"):
            return json_response(self.seed_many(body or {}))
        if (method, path) == ("GET", "/_sim/instances"):
            return json_response(st.all_control_views())
        if (method, path) == ("POST", "/_sim/instances"):
            body = dict(body or {})
            body.setdefault("element", {"key": "pipedrive"})
            return json_response(st.control_view(st.create(body, checked=False)))
        if (method, path) == ("POST", "/_sim/consent"):
            auto = (body or {}).get("auto")
            if auto not in ("allow", "deny", None):
                raise ApiError(400, "auto must be \"allow\", \"deny\" or null")
            st.consent_auto = auto
            return json_response({"auto": auto})
        if (method, path) == ("POST", "/_sim/codes"):
            return json_response({"code": st.new_code(
                (body or {}).get("account"))})
        m = re.fullmatch(r"/_sim/instances/(\d+)/(rotate|delete|disable|enable)",
                         path)
        if m and method == "POST":
            return self.control_instance(int(m.group(1)), m.group(2))
        m = re.fullmatch(r"/_sim/events/(\d+)", path)
        if m and method == "POST":
            return json_response(send_event(st, int(m.group(1)), body))
        found = self.chaos and self.chaos.control(method, path)
        if found:
            return found
        raise ApiError(404, "No control endpoint %s %s" % (method, path))

    def seed_many(self, body):
        count = body.get("count")
        name = body.get("name", "bulk-{n}")
        tags = body.get("tags", [])
        config = body.get("configuration", {})
        if (not isinstance(count, int) or not 1 <= count <= 1000000
                or not isinstance(name, str) or not isinstance(tags, list)
                or not all(isinstance(t, str) for t in tags)
                or not isinstance(config, dict)):
            raise ApiError(400, "Bulk seed: count 1-1000000, name a string, "
                           "tags a list of strings, configuration an object")
        first_id, last_id = self.state.seed_many(count, name, tags, config)
        return {"first": first_id, "last": last_id}

    def control_instance(self, inst_id, action):
        st = self.state
        if action == "delete":
            st.delete(inst_id)
            return json_response({})
        if action == "rotate":
            inst = st.rotate(inst_id)
        else:
            inst = st.set_disabled(inst_id, action == "disable")
        return json_response(st.control_view(inst))


def is_control(method, path):
    if not path.startswith("/_sim/"):
        return False
    # The consent page is the simulated provider, so it is a recorded call.
    return not (path in CONSENT_PATHS and method != "POST")


# ---- HTTP -----------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ocsim/1.0"
    timeout = 120  # seconds an idle keep-alive connection is held
    # Buffered writes plus TCP_NODELAY: head and body leave in one segment,
    # so keep-alive clients never wait on a delayed ACK.
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_any(self):
        sim = self.server.sim
        try:
            raw = self.read_body()
        except ValueError as e:
            self.close_connection = True
            return self.send(error_response(400, str(e)))
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        if is_control(self.command, path):
            return self.send(sim.control(self.command, path, url.query, raw))
        if sim.chaos is not None and sim.chaos.stopping:
            self.close_connection = True
            return
        req = Request(self.command, path, url.query, self.headers, raw, sim)
        endpoint, handler = route(req)
        sim.record(req, endpoint)
        latency = sim.enter()
        try:
            if latency:
                time.sleep(latency)
            fault = sim.take_fault(endpoint)
            if fault is None:
                return self.send(run(handler, req))
            self.answer_with_fault(fault, handler, req)
        finally:
            sim.leave()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_any
    do_HEAD = do_OPTIONS = do_any

    def answer_with_fault(self, fault, handler, req):
        if fault.get("delay"):
            time.sleep(fault["delay"])
        if fault.get("reset"):
            # Abort the connection with a TCP reset and no answer; the
            # handler is not run.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault.get("close"):
            # Drop the connection with no answer at all; the handler is not
            # run, so the call has no side effect.
            self.close_connection = True
            return
        kind = fault.get("body")
        if kind == "truncated":
            # Truncation happens on the wire: the call takes effect.
            resp = run(handler, req)
            if fault.get("status"):
                resp.status = fault["status"]
        elif kind is not None or fault.get("status"):
            resp = fault_response(fault)
        else:
            resp = run(handler, req)
        for name, value in fault.get("headers", {}).items():
            if name.lower() == "content-type":
                resp.content_type = str(value)
            else:
                resp.headers.append((name, str(value)))
        if kind == "truncated":
            self.close_connection = True
            body = resp.body
            return self.send(resp, body[:len(body) // 2], len(body) + 16)
        self.send(resp)

    def handle_expect_100(self):
        ok = super().handle_expect_100()
        self.wfile.flush()
        return ok

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit():
            raise ValueError("Invalid Content-Length")
        self.quick_ack()
        return self.rfile.read(int(length))

    def quick_ack(self):
        # Clients that write head and body separately (Perl's HTTP::Tiny)
        # would otherwise wait for our delayed ACK before sending the body.
        if hasattr(socket, "TCP_QUICKACK"):
            try:
                self.connection.setsockopt(socket.IPPROTO_TCP,
                                           socket.TCP_QUICKACK, 1)
            except OSError:
                pass

    def read_chunked(self):
        body = b""
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise ValueError("Invalid chunked request body")
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def send(self, resp, body=None, length=None):
        body = resp.body if body is None else body
        self.send_response(resp.status)
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length",
                         str(len(body) if length is None else length))
        for name, value in resp.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        # Errors the base class raises itself (bad request line, unknown
        # method) get the platform's JSON error shape too.
        self.close_connection = True
        text = message or self.responses.get(code, ("Error",))[0]
        self.send(error_response(code, text))

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.sim.settings.verbose:
            sys.stderr.write("ocsim: %s %s\n" % (self.address_string(),
                                                 fmt % args))


def run(handler, req):
    if handler is None:
        return error_response(405, "Method %s not allowed on %s"
                              % (req.method, req.path))
    try:
        return handler(req)
    except ApiError as e:
        return error_response(e.status, e.message)
    except Exception:
        traceback.print_exc()
        return error_response(500, "Simulator error")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    ssl_context = None

    def finish_request(self, request, client_address):
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        # Handshake in the connection's own thread, not in the accept loop.
        request.settimeout(10)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        if self.sim.settings.verbose:
            super().handle_error(request, client_address)


# ---- command line ---------------------------------------------------------

class Stop(Exception):
    pass


def raise_stop(signum, frame):
    raise Stop()


def parse_args(argv):
    p = argparse.ArgumentParser(description="Open Connectors simulator")
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT")
    p.add_argument("--user-secret", default="sim-user-secret")
    p.add_argument("--org-secret", default="sim-org-secret")
    p.add_argument("--page-size", type=int, default=200)
    p.add_argument("--max-page-size", type=int, default=200,
                   help="the most entries a page holds, whatever pageSize "
                   "asks (tests of long lists with few instances)")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--watch-parent", action="store_true",
                   help="exit when the parent process goes away")
    p.add_argument("--witness", help="append every call to FILE (JSON lines)")
    p.add_argument("--state-file",
                   help="keep instances and tokens in FILE across restarts")
    args = p.parse_args(argv)
    if args.page_size < 1 or args.max_page_size < 1:
        p.error("--page-size and --max-page-size must be at least 1")
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    return args


def make_server(args, sim):
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = Server((host, int(port)), Handler)
    server.sim = sim
    scheme = "http"
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.ssl_context = ctx
        scheme = "https"
    shown = "[%s]" % host if ":" in host else host
    sim.settings.base_url = "%s://%s:%d" % (scheme, shown,
                                            server.server_address[1])
    return server


def watch_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def main(argv):
    args = parse_args(argv)
    sim = Sim(Settings(args), args.page_size)
    sim.state.max_page_size = args.max_page_size
    server = make_server(args, sim)
    if args.witness or args.state_file:
        sim.chaos = Chaos(sim, args.witness, args.state_file)
    signal.signal(signal.SIGTERM, raise_stop)
    signal.signal(signal.SIGINT, raise_stop)
    try:
        if args.watch_parent:
            threading.Thread(target=watch_parent, daemon=True).start()
        print("ocsim ready on " + sim.settings.base_url, flush=True)
        server.serve_forever()
    except Stop:
        pass
    finally:
        server.server_close()
        if sim.chaos is not None and args.state_file:
            sim.chaos.save()
    # Handler threads are daemons and may sit in keep-alive reads or fault
    # delays; leave without waiting for them.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
