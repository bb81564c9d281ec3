"""The simulated Open Connectors API: routing, auth and handlers.

route(req) maps a request to its normalized endpoint name (what the control
interface counts and injects faults on) and a handler; handlers take the
Request and return a Response or raise ApiError.
"""

import html
import json
import re
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

from ocsim_state import HUB_RESOURCES, ApiError, first

API_PREFIX = "/elements/api-v2"
CONSENT_PATHS = ("/_sim/consent", "/_sim/consent/allow", "/_sim/consent/deny")


class Request:
    def __init__(self, method, path, query_string, headers, raw_body, sim):
        self.method = method
        self.path = path
        self.query_string = query_string
        self.query = parse_qs(query_string, keep_blank_values=True)
        self.headers = headers
        self.raw_body = raw_body
        self.sim = sim
        self.state = sim.state

    def json(self):
        if not self.raw_body.strip():
            return None
        try:
            return json.loads(self.raw_body)
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON")


class Response:
    def __init__(self, status, body=b"", content_type="application/json",
                 headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers or [])


def json_response(obj, status=200, headers=None):
    return Response(status, json.dumps(obj).encode(), headers=headers)


def error_response(status, message, headers=None):
    return json_response({"requestId": str(uuid.uuid4()), "message": message},
                         status, headers)


def redirect(location):
    return Response(302, b"", content_type=None,
                    headers=[("Location", location)])


# ---- routing --------------------------------------------------------------

def route(req):
    """Return (endpoint, handler); handler is None for a known path with a
    method it does not take (405), and the endpoint is "<METHOD> other" with
    a 404 handler for any unknown path."""
    method = req.method
    if req.path in CONSENT_PATHS:
        template = req.path[len("/_sim"):]
        handlers = {"/consent": consent_page, "/consent/allow": consent_allow,
                    "/consent/deny": consent_deny}
        fn = handlers[template] if method == "GET" else None
        return "%s %s" % (method, template), fn
    if req.path == API_PREFIX or req.path.startswith(API_PREFIX + "/"):
        rest = req.path[len(API_PREFIX):]
        for pattern, template, methods in PLATFORM_ROUTES:
            m = re.fullmatch(pattern, rest)
            if m:
                fn = methods.get(method)
                return ("%s %s" % (method, template),
                        fn and bound(platform_call, fn, *m.groups()))
        found = hub_route(method, rest)
        if found:
            return found
    return "%s other" % method, not_found


def bound(wrapper, fn, *args):
    return lambda req: wrapper(req, fn, *args)


def hub_route(method, rest):
    # Section 3 of the reference: the hub segment is ignored, and the path
    # without it reaches the same resource.
    m = re.fullmatch(r"/hubs/[^/]+/([^/]+)(?:/([^/]+))?", rest)
    if m is None:
        m = re.fullmatch(r"/(%s)(?:/([^/]+))?" % "|".join(HUB_RESOURCES), rest)
    if m is None:
        return None
    resource, rec_id = m.groups()
    if rec_id is None:
        template = "/hubs/%s" % resource
        methods = {"GET": hub_list, "POST": hub_create}
        if resource == "ping":
            methods = {"GET": hub_ping}
    else:
        template = "/hubs/%s/{id}" % resource
        methods = {"GET": hub_get, "PUT": hub_put, "PATCH": hub_patch,
                   "DELETE": hub_delete}
    # HEAD is GET without the body (the server leaves the body out)
    methods["HEAD"] = methods["GET"]
    fn = methods.get(method)
    args = (resource,) if rec_id is None else (resource, rec_id)
    return "%s %s" % (method, template), fn and bound(hub_call, fn, *args)


def not_found(req):
    return error_response(404, "No resource found at %s %s"
                          % (req.method, req.path))


# ---- auth -----------------------------------------------------------------

AUTH_PART = re.compile(r"\s*(user|organization|element)\s+(\S+)\s*", re.I)


def parse_auth(value):
    """'User u, Organization o[, Element t]' -> {'user':..,...}; None when
    absent or malformed.  Whitespace and keyword case are tolerated."""
    if not value:
        return None
    parts = {}
    for piece in value.split(","):
        m = AUTH_PART.fullmatch(piece)
        if m is None:
            return None
        parts[m.group(1).lower()] = m.group(2)
    return parts


def platform_call(req, fn, *args):
    parts = parse_auth(req.headers.get("Authorization"))
    settings = req.sim.settings
    if (parts is None or parts.get("user") != settings.user_secret
            or parts.get("organization") != settings.org_secret):
        raise ApiError(401, "Invalid user secret and/or organization secret "
                       "provided")
    with req.state.lock:
        return fn(req, *args)


def hub_call(req, fn, *args):
    inst = hub_instance(req)
    header = ("elements-element-instance-id", str(inst["id"]))
    if inst["disabled"]:
        # The vendor's test suite only checks the 403; this exact text is the
        # simulator's own.
        return error_response(403, "Instance is disabled", [header])
    try:
        with req.state.lock:
            resp = fn(req, *args)
    except ApiError as e:
        resp = error_response(e.status, e.message)
    resp.headers.append(header)
    return resp


def hub_instance(req):
    """Check a hub call's triple (or short, no Organization) header and
    return the instance its Element token names; 401 for anything wrong."""
    parts = parse_auth(req.headers.get("Authorization"))
    settings = req.sim.settings
    if (parts is None or parts.get("user") != settings.user_secret
            or parts.get("organization", settings.org_secret)
            != settings.org_secret):
        raise ApiError(401, "Invalid user secret and/or organization secret "
                       "provided")
    if "element" not in parts:
        raise ApiError(401, "No element token provided")
    inst = req.state.by_token(parts["element"])
    # Section 8: an unknown or deleted element token is a 401.
    if inst is None or inst["deleted"]:
        raise ApiError(401, "Invalid element token provided")
    # Section 8 one-token rule: another instance of the same Pipedrive app
    # and account (company+user) was authorized after this one.  A disabled instance answers 403 first.
    if inst["oauth_dead"] and not inst["disabled"]:
        raise ApiError(401, "The provider rejected the OAuth token of this "
                       "instance; re-authorize it with a new code")
    return inst


# ---- platform handlers ----------------------------------------------------

def instance_list(req, element_key=None):
    q = req.query
    tags = q.get("tags[]", []) + q.get("tags", [])
    # hydrate=false is accepted and changes nothing.
    found = req.state.listing(element_key, tags)
    chunk, token = req.state.page("instances", found, q)
    headers = [("Elements-Next-Page-Token", token)] if token else []
    headers.append(("Elements-Returned-Count", str(len(chunk))))
    # Each entry is rendered once per change: a page of 200 out of 50,000
    # costs a join, not 200 encodings.
    body = "[" + ",".join(req.state.public_json(i) for i in chunk) + "]"
    return Response(200, body.encode(), headers=headers)


def instance_create(req, element_key=None):
    inst = req.state.create(req.json(), element_key)
    return json_response(req.state.public_view(inst))


def instance_get(req, inst_id):
    with req.state.lock:
        return json_response(req.state.public_view(req.state.live(inst_id)))


def instance_put(req, inst_id):
    inst = req.state.update(inst_id, req.json(), partial=False)
    return json_response(req.state.public_view(inst))


def instance_patch(req, inst_id):
    inst = req.state.update(inst_id, req.json(), partial=True)
    return json_response(req.state.public_view(inst))


def instance_delete(req, inst_id):
    req.state.delete(inst_id)
    return json_response({})


def instance_enable(req, inst_id):
    inst = req.state.set_disabled(inst_id, False)
    return json_response(req.state.public_view(inst))


def instance_disable(req, inst_id):
    inst = req.state.set_disabled(inst_id, True)
    return json_response(req.state.public_view(inst))


def oauth_url(req, element_key):
    req.state.element(element_key)
    q = req.query
    missing = [k for k in ("apiKey", "apiSecret", "callbackUrl")
               if not first(q, k)]
    if missing:
        raise ApiError(400, "Missing required query parameters: "
                       + ", ".join(missing))
    params = [("client_id", first(q, "apiKey")),
              ("redirect_uri", first(q, "callbackUrl"))]
    if first(q, "state") is not None:
        params.append(("state", first(q, "state")))
    url = "%s/_sim/consent?%s" % (req.sim.settings.base_url, urlencode(params))
    return json_response({"oauthUrl": url, "element": element_key})


PLATFORM_ROUTES = [
    (r"/instances", "/instances",
     {"GET": instance_list, "POST": instance_create}),
    (r"/instances/(\d+)", "/instances/{id}",
     {"GET": instance_get, "PUT": instance_put, "PATCH": instance_patch,
      "DELETE": instance_delete}),
    (r"/instances/(\d+)/enabled", "/instances/{id}/enabled",
     {"PUT": instance_enable, "DELETE": instance_disable}),
    (r"/elements/([^/]+)/instances", "/elements/{key}/instances",
     {"GET": instance_list, "POST": instance_create}),
    (r"/elements/([^/]+)/oauth/url", "/elements/{key}/oauth/url",
     {"GET": oauth_url}),
]


# ---- hub handlers ---------------------------------------------------------

def hub_resource(resource):
    if resource not in HUB_RESOURCES:
        raise ApiError(404, "No resource named '%s' in this hub" % resource)


def hub_ping(req, resource):
    return json_response({"ok": True})


def hub_list(req, resource):
    hub_resource(resource)
    items = req.state.hub_list(resource)
    chunk, token = req.state.page("hub:" + resource, items, req.query)
    headers = [("Elements-Returned-Count", str(len(chunk))),
               ("Elements-Total-Count", str(len(items)))]
    if token:
        headers.append(("Elements-Next-Page-Token", token))
    return json_response(chunk, headers=headers)


def hub_create(req, resource):
    hub_resource(resource)
    return json_response(req.state.hub_create(resource, req.json()))


def hub_get(req, resource, rec_id):
    hub_resource(resource)
    return json_response(req.state.hub_get(resource, rec_id))


def hub_put(req, resource, rec_id):
    hub_resource(resource)
    return json_response(req.state.hub_update(resource, rec_id, req.json(),
                                              partial=False))


def hub_patch(req, resource, rec_id):
    hub_resource(resource)
    return json_response(req.state.hub_update(resource, rec_id, req.json(),
                                              partial=True))


def hub_delete(req, resource, rec_id):
    hub_resource(resource)
    req.state.hub_delete(resource, rec_id)
    return json_response({})


# ---- consent (the simulated Pipedrive authorize page) ---------------------

CONSENT_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Authorize {client}</title></head>
<body>
<h1>Pipedrive (simulated)</h1>
<p>The application <b>{client}</b> asks for access to your Pipedrive data.</p>
<p><a id="allow" href="{allow}">Allow</a> <a id="deny" href="{deny}">Deny</a></p>
</body></html>
"""


def consent_params(req):
    q = req.query
    redirect_uri = first(q, "redirect_uri")
    if not redirect_uri:
        raise ApiError(400, "Missing required query parameter: redirect_uri")
    return redirect_uri, first(q, "state")


def back_to_client(redirect_uri, state, params):
    if state is not None:
        params.append(("state", state))
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return redirect(redirect_uri + sep + urlencode(params))


def consent_page(req):
    consent_params(req)
    auto = req.state.consent_auto
    if auto == "allow":
        return consent_allow(req)
    if auto == "deny":
        return consent_deny(req)
    qs = html.escape(req.query_string, quote=True)
    client = html.escape(first(req.query, "client_id") or "unknown")
    page = CONSENT_HTML.format(client=client,
                               allow="/_sim/consent/allow?" + qs,
                               deny="/_sim/consent/deny?" + qs)
    return Response(200, page.encode(), "text/html; charset=utf-8")


def consent_allow(req):
    redirect_uri, state = consent_params(req)
    # the Pipedrive account that logs in at the consent page
    code = req.state.new_code(first(req.query, "account"))
    return back_to_client(redirect_uri, state, [("code", code)])


def consent_deny(req):
    redirect_uri, state = consent_params(req)
    return back_to_client(redirect_uri, state, [("error", "access_denied")])
