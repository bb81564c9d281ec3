"""Event notifications of the Open Connectors simulator.

POST /_sim/events/{instanceId} makes the simulator deliver one event
notification to the instance's event.notification.callback.url, the way
Open Connectors does (reference, section 5): a POST whose JSON body has a
"message" object holding eventId, elementKey, objectType, objectId,
eventType and raw, signed in Elements-Webhook-Signature as "sha256=" and
the base64 HMAC-SHA256 of the raw body under the instance's
event.notification.signature.key.

The control body (every field optional):

    sign         "good" (default: signed with the configured key, unsigned
                 when the instance has none, as Open Connectors does),
                 "none" (no signature header) or "bad" (signed with
                 another key)
    eventId, objectType, objectId, eventType, raw
                 fields of the generated notification
    body         a raw body (a string) to send instead of the generated one
    body_base64  the same, for bytes that are not text
    truncate     true: sign the whole body, send only its first half
    headers      extra request headers, {name: value}

The answer describes the delivery: the callback's status, headers and body,
and what was sent (url, eventId, signature, webhookId, length and the body,
base64).  A callback that cannot be reached is a 502.
"""

import base64
import hashlib
import hmac
import http.client
import json
import ssl
import uuid
from urllib.parse import urlsplit

from ocsim_state import ApiError, is_true

EVENT_FIELDS = {"sign", "eventId", "objectType", "objectId", "eventType",
                "raw", "body", "body_base64", "truncate", "headers"}

# Open Connectors' normalized object types and Pipedrive's own names
PIPEDRIVE_OBJECTS = {"contacts": "person", "accounts": "organization",
                     "opportunities": "deal", "activities": "activity",
                     "notes": "note", "users": "user"}
PIPEDRIVE_ACTIONS = {"CREATED": "added", "UPDATED": "updated",
                     "DELETED": "deleted"}

DELIVERY_TIMEOUT = 60  # seconds


def signature(key, body):
    mac = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def pipedrive_raw(object_type, object_id, event_type):
    """The vendor's own webhook body (Pipedrive webhooks v1)."""
    obj = PIPEDRIVE_OBJECTS.get(object_type, object_type)
    action = PIPEDRIVE_ACTIONS.get(event_type, event_type.lower())
    current = {"id": object_id, "name": "Ada Lovelace",
               "update_time": "2024-01-15 09:30:00"}
    return {"v": 1, "event": "%s.%s" % (action, obj),
            "meta": {"v": 1, "action": action, "object": obj,
                     "id": object_id, "company_id": 1, "user_id": 1,
                     "host": "sim.pipedrive.com", "timestamp": 1705311000},
            "current": None if action == "deleted" else current,
            "previous": None if action == "added" else dict(current),
            "retry": 0}


def check_spec(spec):
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ApiError(400, "The event request must be a JSON object")
    unknown = set(spec) - EVENT_FIELDS
    if unknown:
        raise ApiError(400, "Unknown event fields: "
                       + ", ".join(sorted(unknown)))
    if spec.get("sign", "good") not in ("good", "none", "bad"):
        raise ApiError(400, "sign must be \"good\", \"none\" or \"bad\"")
    if "body" in spec and "body_base64" in spec:
        raise ApiError(400, "body and body_base64 exclude each other")
    if "body" in spec and not isinstance(spec["body"], str):
        raise ApiError(400, "body must be a string")
    if not isinstance(spec.get("headers", {}), dict):
        raise ApiError(400, "headers must be an object")
    return spec


def notification_body(element_key, spec):
    """(eventId, raw body bytes) of the notification to send."""
    if "body" in spec:
        return spec.get("eventId"), spec["body"].encode()
    if "body_base64" in spec:
        try:
            body = base64.b64decode(spec["body_base64"], validate=True)
        except ValueError:
            raise ApiError(400, "body_base64 is not base64")
        return spec.get("eventId"), body
    event_id = spec.get("eventId") or str(uuid.uuid4())
    object_type = spec.get("objectType", "contacts")
    object_id = spec.get("objectId", 1)
    event_type = spec.get("eventType", "UPDATED")
    raw = spec.get("raw")
    if raw is None:
        raw = pipedrive_raw(object_type, object_id, event_type)
    message = {"eventId": event_id, "elementKey": element_key,
               "objectType": object_type, "objectId": str(object_id),
               "eventType": event_type, "raw": raw}
    return event_id, json.dumps({"message": message}).encode()


def send_event(state, inst_id, spec):
    spec = check_spec(spec)
    with state.lock:
        inst = state.live(inst_id)
        config = dict(inst["configuration"])
        element_key = inst["element_key"]
        disabled = inst["disabled"]
    if disabled:
        raise ApiError(409, "Instance %s is disabled" % inst_id)
    if not is_true(config.get("event.notification.enabled")):
        raise ApiError(409, "Events are not enabled on instance %s" % inst_id)
    url = config.get("event.notification.callback.url")
    if not url:
        raise ApiError(400, "Instance %s has no "
                       "event.notification.callback.url" % inst_id)

    event_id, body = notification_body(element_key, spec)
    key = config.get("event.notification.signature.key")
    sign = spec.get("sign", "good")
    sig = None
    if sign == "good" and key:
        sig = signature(key, body)
    elif sign == "bad":
        sig = signature((key or "") + "-not-the-key", body)

    webhook_id = str(uuid.uuid4())
    headers = {"Content-Type": "application/json",
               "User-Agent": "ocsim/1.0 events",
               "Elements-Webhook-Id": webhook_id}
    if sig is not None:
        headers["Elements-Webhook-Signature"] = sig
    headers.update({str(k): str(v) for k, v in spec.get("headers", {}).items()})

    sent = body[:len(body) // 2] if spec.get("truncate") else body
    status, resp_headers, resp_body = deliver(url, sent, headers)
    return {"status": status, "headers": resp_headers,
            "body": resp_body.decode("utf-8", "replace"),
            "sent": {"url": url, "eventId": event_id, "signature": sig,
                     "webhookId": webhook_id, "length": len(sent),
                     "body_base64": base64.b64encode(sent).decode()}}


def deliver(url, body, headers):
    parts = urlsplit(url)
    try:
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname, parts.port or 443, timeout=DELIVERY_TIMEOUT,
                context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection(
                parts.hostname, parts.port or 80, timeout=DELIVERY_TIMEOUT)
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as e:
        raise ApiError(502, "Delivery to %s failed: %s" % (url, e))
    return resp.status, dict(resp.getheaders()), data
