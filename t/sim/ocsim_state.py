"""In-memory state of the Open Connectors simulator.

Instances, OAuth codes, hub records and paging tokens.  Every public method
takes the state lock, so request threads may call them freely.  Errors are
raised as ApiError(status, message) and turned into the platform's JSON error
body by the HTTP layer.
"""

import base64
import copy
import json
import os
import secrets
import threading
import time

MASK = "********"

# Section 8: these four come back masked in every platform response.
SECRET_KEYS = ("pipedrive.password", "pipedrive.api.token",
               "oauth.api.key", "oauth.api.secret")

# Shape of the element in DEVPORTAL's pipedrive-create-instance sample.
ELEMENTS = {
    "pipedrive": {"id": 16, "key": "pipedrive", "name": "Pipedrive Beta",
                  "hub": "crm", "authentication": {"type": "custom"}},
}

PIPEDRIVE_DEFAULTS = {
    "base.url": "https://api.pipedrive.com/v1",
    "pagination.offset": "true",
    "pagination.max": "100",
    "event.vendor.type": "webhook",
    "event.notification.enabled": "false",
    "filter.response.nulls": "true",
}

# the simulated Pipedrive account (company+user) that consents when a test
# names none
DEFAULT_ACCOUNT = "pd-user"

# Section 8: auth type is chosen by configuration "authentication.type";
# these are the required keys per type (oauth2 also needs providerData.code).
REQUIRED_KEYS = {
    "emailPassword": ("pipedrive.email", "pipedrive.password"),
    "accessToken": ("pipedrive.api.token",),
    "oauth2": ("oauth.api.key", "oauth.api.secret", "oauth.callback.url"),
}

SIM_USER = {"id": 1, "emailAddress": "sim-user@example.com"}

# The most a list page holds: the reference gives "default 200, maximum 200"
# for GET /elements; the simulator applies the same bound to instance lists
# and answers a larger pageSize with at most 200 entries.
MAX_PAGE_SIZE = 200

HUB_RESOURCES = ("contacts", "accounts", "opportunities", "activities",
                 "users", "notes")


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def now_pipedrive():
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def new_instance_token():
    # Base64 of 32 random bytes always ends in "="; draw again until "/" and
    # "+" occur too, so every client is made to escape them.
    while True:
        token = base64.b64encode(os.urandom(32)).decode()
        if "/" in token and "+" in token:
            return token


def new_opaque(offset):
    raw = "%d:%s" % (offset, secrets.token_hex(8))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def auth_type_of(config):
    kind = config.get("authentication.type") or "emailPassword"
    if kind not in REQUIRED_KEYS:
        raise ApiError(400, "Invalid authentication.type '%s': expected one "
                       "of emailPassword, accessToken, oauth2" % kind)
    return kind


def missing_keys(config):
    kind = auth_type_of(config)
    return [k for k in REQUIRED_KEYS[kind] if config.get(k) in (None, "")]


def masked(config):
    return {k: (MASK if k in SECRET_KEYS and v is not None else v)
            for k, v in config.items()}


def is_true(value):
    return value is True or str(value).lower() == "true"


def body_object(body, what="request body"):
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "The %s must be a JSON object" % what)
    return body


def seed_hub():
    t = "2024-01-15 09:30:00"
    contacts = [
        ("Ada Lovelace", "Ada", "Lovelace", "ada@example.com"),
        ("Grace Hopper", "Grace", "Hopper", "grace@example.com"),
        ("Alan Turing", "Alan", "Turing", "alan@example.com"),
        ("Edsger Dijkstra", "Edsger", "Dijkstra", "edsger@example.com"),
        ("Barbara Liskov", "Barbara", "Liskov", "barbara@example.com"),
    ]
    return {
        "contacts": [
            {"name": n, "first_name": f, "last_name": l,
             "email1": {"value": e, "label": "work"},
             "phone1": {"value": "+1 555 010%d" % i, "label": "work"},
             "org_id": 1 + i % 3, "add_time": t, "update_time": t}
            for i, (n, f, l, e) in enumerate(contacts)],
        "accounts": [
            {"name": n, "visible_to": "3", "address": a,
             "add_time": t, "update_time": t}
            for n, a in (("Analytical Engines Ltd", "London"),
                         ("Compiler Works Inc", "Arlington"),
                         ("Enigma Solutions", "Bletchley"))],
        "opportunities": [
            {"title": ti, "value": v, "currency": "EUR", "status": "open",
             "org_id": o, "add_time": t, "update_time": t}
            for ti, v, o in (("Difference engine upgrade", 12000, 1),
                             ("COBOL migration", 48000, 2),
                             ("Codebreaking retainer", 7500, 3))],
        "activities": [
            {"subject": s, "type": ty, "due_date": d, "due_time": "10:00",
             "done": False, "add_time": t, "update_time": t}
            for s, ty, d in (("Kick-off call", "call", "2024-02-01"),
                             ("Send proposal", "email", "2024-02-05"),
                             ("Contract review", "meeting", "2024-02-12"))],
        "users": [
            {"name": n, "email": e, "active_flag": True, "is_admin": a,
             "add_time": t, "update_time": t}
            for n, e, a in (("Sim Admin", "admin@example.com", True),
                            ("Sam Sales", "sam@example.com", False),
                            ("Olivia Ops", "olivia@example.com", False))],
        "notes": [
            {"content": c, "deal_id": d, "add_time": t, "update_time": t}
            for c, d in (("Customer prefers email.", 1),
                         ("Budget confirmed for Q2.", 2),
                         ("Follow up after the holidays.", 3))],
    }


class State:
    def __init__(self, page_size):
        self.lock = threading.RLock()
        self.page_size = page_size
        self.max_page_size = MAX_PAGE_SIZE
        self.next_id = 1
        self.instances = {}
        # Indexes so that a list page costs the same at 50,000 instances as
        # at 5: live instances in id order, overall, per element and per tag.
        self.by_element = {}
        self.by_tag = {}
        self.live_order = []
        # code -> the Pipedrive account (company+user) that consented
        self.codes = {}
        self.page_tokens = {}
        self.consent_auto = None
        self.reseed_hub()

    # ---- lifecycle -------------------------------------------------------

    def reset_all(self):
        """Forget instances and codes (ids keep increasing), re-seed hubs."""
        with self.lock:
            self.instances.clear()
            self.by_element.clear()
            self.by_tag.clear()
            self.live_order = []
            self.codes.clear()
            self.page_tokens.clear()
            self.consent_auto = None
            self.reseed_hub()

    def reseed_hub(self):
        with self.lock:
            self.hub = {}
            self.hub_next = {}
            for resource, records in seed_hub().items():
                table = {}
                for i, rec in enumerate(records, start=1):
                    table[i] = dict(rec, id=i)
                self.hub[resource] = table
                self.hub_next[resource] = len(records) + 1

    # ---- views -----------------------------------------------------------

    def public_view(self, inst):
        element = copy.deepcopy(ELEMENTS[inst["element_key"]])
        config = inst["configuration"]
        return {
            "id": inst["id"],
            "name": inst["name"],
            "token": inst["token"],
            "element": element,
            "elementId": element["id"],
            "tags": list(inst["tags"]),
            "configuration": masked(config),
            "provisionInteractions": [],
            "valid": True,
            "disabled": inst["disabled"],
            "maxCacheSize": 0,
            "cacheTimeToLive": 0,
            "eventsEnabled": is_true(config.get("event.notification.enabled")),
            "traceLoggingEnabled": False,
            "cachingEnabled": False,
            "externalAuthentication": "none",
            "createdDate": inst["createdDate"],
            "user": dict(SIM_USER),
        }

    def control_view(self, inst):
        view = self.public_view(inst)
        view["configuration"] = dict(inst["configuration"])
        view["deleted"] = inst["deleted"]
        view["oauth_dead"] = inst["oauth_dead"]
        view["oauth_account"] = inst.get("oauth_account", DEFAULT_ACCOUNT)
        view["authType"] = auth_type_of(inst["configuration"])
        return view

    def all_control_views(self):
        with self.lock:
            return [self.control_view(i) for _, i in sorted(self.instances.items())]

    def public_json(self, inst):
        """The public view as JSON text, rendered once per change."""
        text = inst.get("rendered")
        if text is None:
            text = json.dumps(self.public_view(inst))
            inst["rendered"] = text
        return text

    # ---- indexes ---------------------------------------------------------

    def index_add(self, inst, tags_only=False):
        lists = [self.by_tag.setdefault(t, []) for t in set(inst["tags"])]
        if not tags_only:
            lists += [self.live_order,
                      self.by_element.setdefault(inst["element_key"], [])]
        for insts in lists:
            insort_id(insts, inst)

    def index_remove(self, inst, tags_only=False):
        lists = [self.by_tag.get(t) for t in set(inst["tags"])]
        if not tags_only:
            lists += [self.live_order, self.by_element.get(inst["element_key"])]
        for insts in lists:
            if insts is not None:
                remove_id(insts, inst)

    def changed(self, inst):
        inst["rendered"] = None

    # ---- instances -------------------------------------------------------

    def element(self, key):
        if key not in ELEMENTS:
            raise ApiError(404, "No element found with key '%s'" % key)
        return ELEMENTS[key]

    def live(self, inst_id):
        inst = self.instances.get(int(inst_id))
        if inst is None or inst["deleted"]:
            raise ApiError(404, "No instance found with ID %s" % inst_id)
        return inst

    def create(self, body, path_key=None, checked=True):
        """POST /instances; checked=False is the control seed (no key or code
        checks, but the same object and the same one-token rule)."""
        body = body_object(body)
        element = body.get("element") or {}
        key = path_key or (element.get("key") if isinstance(element, dict)
                           else None)
        if not key:
            raise ApiError(400, "Missing required field: element.key")
        with self.lock:
            self.element(key)
            name = body.get("name")
            if checked and (not isinstance(name, str) or name == ""):
                raise ApiError(400, "Missing required field: name")
            config = dict(body_object(body.get("configuration"),
                                      "configuration"))
            kind = auth_type_of(config)
            account = body.get("oauth_account") or DEFAULT_ACCOUNT
            if checked:
                self.check_required(config)
                if kind == "oauth2":
                    account = self.consume_code(provider_code(body))
            inst = {
                "id": self.next_id,
                "name": name if name is not None else "instance-%d" % self.next_id,
                "token": new_instance_token(),
                "element_key": key,
                "configuration": dict(PIPEDRIVE_DEFAULTS, **config),
                "disabled": not checked and bool(body.get("disabled")),
                "deleted": False,
                "oauth_dead": False,
                "oauth_account": account,
                "createdDate": now_iso(),
            }
            tags = body.get("tags")
            if tags is not None and not isinstance(tags, list):
                raise ApiError(400, "Invalid field: tags")
            # Section 8: an instance created without tags is tagged with its
            # own name.
            inst["tags"] = list(tags or [inst["name"]])
            self.next_id += 1
            self.instances[inst["id"]] = inst
            self.index_add(inst)
            if kind == "oauth2":
                self.claim_oauth_token(inst)
            if not checked and body.get("oauth_dead"):
                inst["oauth_dead"] = True
            return inst

    def check_required(self, config):
        missing = missing_keys(config)
        if missing:
            raise ApiError(400, "Missing required configuration: "
                           + ", ".join(missing))

    def consume_code(self, code):
        if not code:
            raise ApiError(400, "Missing required field: providerData.code")
        if code not in self.codes:
            raise ApiError(400, "Invalid or already used OAuth code")
        return self.codes.pop(code)

    def claim_oauth_token(self, inst):
        """Section 8 one-token rule: one Pipedrive company+user (the account
        that consented, see new_code) and app (the oauth.api.key) holds one
        OAuth token; whoever authorized last owns it and every other
        instance of that account and app gets 401 on hub calls."""
        app = inst["configuration"].get("oauth.api.key")
        account = inst.get("oauth_account", DEFAULT_ACCOUNT)
        for other in self.instances.values():
            if (other is not inst and not other["deleted"]
                    and other["element_key"] == inst["element_key"]
                    and auth_type_of(other["configuration"]) == "oauth2"
                    and other["configuration"].get("oauth.api.key") == app
                    and other.get("oauth_account",
                                  DEFAULT_ACCOUNT) == account):
                other["oauth_dead"] = True
        inst["oauth_dead"] = False

    def update(self, inst_id, body, partial):
        """PUT (partial=False) replaces the configuration; PATCH merges it.
        Both replace name and tags when given."""
        body = body_object(body)
        with self.lock:
            inst = self.live(inst_id)
            config = inst["configuration"]
            if "configuration" in body:
                given = body_object(body["configuration"], "configuration")
                config = (dict(config, **given) if partial
                          else dict(PIPEDRIVE_DEFAULTS, **given))
            self.check_required(config)
            code = provider_code(body)
            if code is not None:
                if auth_type_of(config) != "oauth2":
                    raise ApiError(400, "providerData.code given but the "
                                   "instance does not use oauth2")
                inst["oauth_account"] = self.consume_code(code)
            if "name" in body:
                if not isinstance(body["name"], str) or body["name"] == "":
                    raise ApiError(400, "Invalid field: name")
                inst["name"] = body["name"]
            if "tags" in body:
                if not isinstance(body["tags"], list):
                    raise ApiError(400, "Invalid field: tags")
                self.index_remove(inst, tags_only=True)
                inst["tags"] = list(body["tags"])
                self.index_add(inst, tags_only=True)
            inst["configuration"] = config
            self.changed(inst)
            if code is not None:
                # Reference section 7: whether re-authorization changes the
                # instance token is NOT CONFIRMED; the simulator keeps it.
                self.claim_oauth_token(inst)
            return inst

    def delete(self, inst_id):
        with self.lock:
            inst = self.live(inst_id)
            inst["deleted"] = True
            self.index_remove(inst)

    def seed_many(self, count, name, tags, config, element_key="pipedrive"):
        """Control: count instances at once, named and tagged from templates
        where "{n}" is the instance's number; no one-token rule, no checks."""
        with self.lock:
            self.element(element_key)
            first_id = self.next_id
            for n in range(1, count + 1):
                inst = {
                    "id": self.next_id,
                    "name": name.replace("{n}", str(n)),
                    "token": new_instance_token(),
                    "element_key": element_key,
                    "configuration": dict(PIPEDRIVE_DEFAULTS, **config),
                    "disabled": False,
                    "deleted": False,
                    "oauth_dead": False,
                    "createdDate": now_iso(),
                }
                inst["tags"] = ([t.replace("{n}", str(n)) for t in tags]
                                or [inst["name"]])
                self.next_id += 1
                self.instances[inst["id"]] = inst
                self.index_add(inst)
                # pre-rendered: a list page then costs a join
                self.public_json(inst)
            return first_id, self.next_id - 1

    def set_disabled(self, inst_id, disabled):
        with self.lock:
            inst = self.live(inst_id)
            inst["disabled"] = disabled
            self.changed(inst)
            return inst

    def rotate(self, inst_id):
        with self.lock:
            inst = self.live(inst_id)
            inst["token"] = new_instance_token()
            self.changed(inst)
            return inst

    def listing(self, element_key=None, tags=()):
        """Live instances in id order, from the indexes; the list returned
        may be an index itself: read it under the lock, never change it."""
        with self.lock:
            if element_key is not None:
                self.element(element_key)
            if tags:
                lists = [self.by_tag.get(t, []) for t in tags]
                found = min(lists, key=len)
                if len(lists) > 1 or element_key is not None:
                    found = [i for i in found
                             if all(t in i["tags"] for t in tags)
                             and (element_key is None
                                  or i["element_key"] == element_key)]
            elif element_key is not None:
                found = self.by_element.get(element_key, [])
            else:
                found = self.live_order
            # Section 8: a tag-filtered list that matches nothing is a 404.
            if tags and not found:
                raise ApiError(404, "No instances found with tags: "
                               + ", ".join(tags))
            return found

    def by_token(self, token):
        with self.lock:
            for inst in self.instances.values():
                if inst["token"] == token:
                    return inst
            return None

    # ---- oauth codes -----------------------------------------------------

    def new_code(self, account=None):
        """A grant code, as the provider gives one after the consent of a
        Pipedrive account (company+user); one default account unless the
        consent page or the control call names another."""
        code = secrets.token_urlsafe(18)
        with self.lock:
            self.codes[code] = account or DEFAULT_ACCOUNT
        return code

    # ---- paging ----------------------------------------------------------

    def page(self, scope, items, query):
        """Slice items by pageSize plus page or nextPage.  Returns the slice
        and the opaque next-page token, or None on the last page."""
        size = min(positive_int(query, "pageSize", self.page_size),
                   self.max_page_size)
        with self.lock:
            token = first(query, "nextPage")
            if token:
                entry = self.page_tokens.get(token)
                if entry is None or entry[0] != scope:
                    raise ApiError(400, "Invalid nextPage token")
                offset = entry[1]
            else:
                offset = (positive_int(query, "page", 1) - 1) * size
            chunk = items[offset:offset + size]
            if offset + size >= len(items):
                return chunk, None
            token = new_opaque(offset + size)
            self.page_tokens[token] = (scope, offset + size)
            return chunk, token

    # ---- hub records -----------------------------------------------------

    def hub_list(self, resource):
        with self.lock:
            return [dict(r) for _, r in sorted(self.hub[resource].items())]

    def hub_get(self, resource, rec_id):
        with self.lock:
            rec = self.hub[resource].get(hub_id(rec_id))
            if rec is None:
                raise ApiError(404, "No %s found with ID %s" % (resource, rec_id))
            return dict(rec)

    def hub_create(self, resource, body):
        body = body_object(body)
        with self.lock:
            rec_id = self.hub_next[resource]
            self.hub_next[resource] += 1
            stamp = now_pipedrive()
            rec = dict(body, id=rec_id, add_time=stamp, update_time=stamp)
            self.hub[resource][rec_id] = rec
            return dict(rec)

    def hub_update(self, resource, rec_id, body, partial):
        body = body_object(body)
        with self.lock:
            old = self.hub_get(resource, rec_id)
            rec = dict(old, **body) if partial else dict(body)
            rec.update(id=old["id"], add_time=old["add_time"],
                       update_time=now_pipedrive())
            self.hub[resource][old["id"]] = rec
            return dict(rec)

    def hub_delete(self, resource, rec_id):
        with self.lock:
            old = self.hub_get(resource, rec_id)
            del self.hub[resource][old["id"]]


def id_position(insts, inst_id):
    lo, hi = 0, len(insts)
    while lo < hi:
        mid = (lo + hi) // 2
        if insts[mid]["id"] < inst_id:
            lo = mid + 1
        else:
            hi = mid
    return lo


def insort_id(insts, inst):
    if not insts or insts[-1]["id"] < inst["id"]:
        insts.append(inst)
        return
    insts.insert(id_position(insts, inst["id"]), inst)


def remove_id(insts, inst):
    pos = id_position(insts, inst["id"])
    if pos < len(insts) and insts[pos] is inst:
        del insts[pos]


def provider_code(body):
    data = body.get("providerData")
    if isinstance(data, dict):
        return data.get("code")
    return None


def first(query, name):
    values = query.get(name)
    return values[0] if values else None


def positive_int(query, name, default):
    raw = first(query, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ApiError(400, "Invalid %s '%s': expected a positive integer"
                       % (name, raw))
    return value


def hub_id(raw):
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ApiError(404, "No record found with ID %s" % raw)
