//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every `/api/v1` endpoint.
//!
//! Written by hand as JSON rather than derived with utoipa: the handlers answer
//! `serde_json::Value` built from storage models, so derives would have needed a parallel set
//! of schema types. The router is built from [`super::API_ROUTES`]; a unit test below and a
//! black-box test (`tests/tests/api.rs`) assert that the (method, path) pairs documented here
//! are exactly those, so the document cannot drift from the routes in either direction.
use axum::Json;
use serde_json::{Value, json};

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn errors(codes: &[&str]) -> serde_json::Map<String, Value> {
    codes
        .iter()
        .map(|c| {
            let d = match *c {
                "400" => "A path or query parameter does not parse; `field` names it",
                "413" => "The request body is over the size limit",
                "401" => "Missing or bad bearer token",
                "403" => "Not allowed (a session without `X-CSRF-Token`, or the wrong role)",
                "404" => "Not found (another merchant's ids do not exist)",
                "409" => "The current state refuses it (the last contact cannot be removed)",
                "429" => "Too many requests; try again later",
                _ => "Invalid input; `field` names it",
            };
            (c.to_string(), json!({ "description": d, "content": { "application/json": { "schema": r("Error") } } }))
        })
        .collect()
}

fn op(
    summary: &str,
    secured: bool,
    params: Value,
    body: Option<Value>,
    success: (&str, Value),
    errs: &[&str],
) -> Value {
    let mut responses = errors(errs);
    responses.insert(success.0.to_string(), success.1);
    let mut o = json!({ "summary": summary, "parameters": params, "responses": responses });
    if secured {
        o["security"] = json!([{ "bearer": [] }]);
    }
    if let Some(b) = body {
        o["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": b } } });
    }
    o
}

/// Replaces an operation's security requirement (any one of `schemes`).
fn secured_by(mut o: Value, schemes: &[&str]) -> Value {
    let any: Vec<Value> = schemes.iter().map(|s| json!({ *s: [] })).collect();
    o["security"] = Value::Array(any);
    o
}

fn query_param(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "schema": schema, "description": description })
}

fn path_param(name: &str, kind: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": schema_of(kind) })
}

/// Ids are 64-bit: a larger number does not parse (400).
fn schema_of(kind: &str) -> Value {
    match kind {
        "integer" => {
            json!({ "type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX })
        }
        other => json!({ "type": other }),
    }
}

fn list_of(key: &str, item: &str) -> Value {
    json!({ "type": "object", "properties": { key: { "type": "array", "items": r(item) } }, "required": [key] })
}

fn paths() -> Value {
    let none = json!([]);
    json!({
        "/api/v1/openapi.json": { "get": op("This document", false, none.clone(), None, ("200", ok("OpenAPI 3.1", json!({"type": "object"}))), &[]) },
        "/api/v1/dependencies": { "get": op("Every dependency with its state", false, none.clone(), None, ("200", ok("Dependencies", list_of("dependencies", "Dependency"))), &[]) },
        "/api/v1/dependencies/{slug}": { "get": op("One dependency with its checks and recent incidents", false, json!([path_param("slug", "string")]), None, ("200", ok("Dependency", r("DependencyDetail"))), &["404"]) },
        "/api/v1/incidents": { "get": op("Incidents, newest first", false, json!([
            { "name": "dependency", "in": "query", "schema": { "type": "string" }, "description": "a dependency slug" },
            { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 100 }, "description": "outside 1..=500: 422, never clamped" }
        ]), None, ("200", ok("Incidents", list_of("incidents", "Incident"))), &["404", "422"]) },
        "/api/v1/incidents/{id}": { "get": op("One incident with its evidence trail", false, json!([path_param("id", "integer")]), None, ("200", ok("Incident", r("IncidentDetail"))), &["404"]) },
        "/api/v1/me/subscriptions": {
            "get": op("The dependencies you are alerted about", true, none.clone(), None, ("200", ok("Subscriptions", list_of("subscriptions", "Subscription"))), &["401"]),
            "put": op("Replace your subscriptions", true, none.clone(), Some(json!({ "type": "object", "required": ["subscriptions"], "properties": { "subscriptions": { "type": "array", "items": r("SubscriptionInput") } } })), ("200", ok("Subscriptions", list_of("subscriptions", "Subscription"))), &["401", "422"])
        },
        "/api/v1/me/contacts": {
            "get": op("Your contacts, in the order they are tried", true, none.clone(), None, ("200", ok("Contacts", list_of("contacts", "Contact"))), &["401"]),
            "post": op("Add a contact at the end", true, none.clone(), Some(r("ContactInput")), ("201", ok("The new contact", r("Contact"))), &["401", "422"])
        },
        "/api/v1/me/contacts/{id}": {
            "delete": op("Remove a contact (not the last one)", true, json!([path_param("id", "integer")]), None, ("204", json!({ "description": "Removed" })), &["401", "404", "409"]),
            "patch": op("Turn alert calls to a contact on or off", true, json!([path_param("id", "integer")]), Some(json!({ "type": "object", "additionalProperties": false, "required": ["voice_enabled"], "properties": { "voice_enabled": { "type": "boolean" } } })), ("200", ok("The contact", r("Contact"))), &["401", "404", "422"])
        },
        "/api/v1/me/playbooks": { "get": op("What to do per category (yours or the default)", true, none.clone(), None, ("200", ok("Playbooks", list_of("playbooks", "Playbook"))), &["401"]) },
        "/api/v1/me/playbooks/{category}": { "put": op("Set a category's playbook (empty text: the default)", true, json!([path_param("category", "string")]), Some(json!({ "type": "object", "required": ["text"], "properties": { "text": { "type": "string", "maxLength": 2000 } } })), ("200", ok("Playbook", r("Playbook"))), &["401", "404", "422"]) },
        "/api/v1/me/notifications": { "get": op("Alerts sent to you, newest first", true, json!([{ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 }, "description": "outside 1..=200: 422, never clamped" }]), None, ("200", ok("Notifications", list_of("notifications", "Notification"))), &["401", "422"]) },
        "/api/v1/me/notifications/{id}": { "get": op("One alert with every message", true, json!([path_param("id", "integer")]), None, ("200", ok("Notification", r("Notification"))), &["401", "404"]) },
        "/api/v1/me/test-alert": { "post": op("Send a test alert to a contact (default: the first); at most 3 per 10 minutes", true, none.clone(), Some(json!({ "type": "object", "additionalProperties": false, "properties": { "contact_id": { "type": ["integer", "null"], "format": "int64", "description": "null or absent: the first contact" } } })), ("202", ok("Queued", json!({ "type": "object", "properties": { "notification_id": { "type": "integer" } } }))), &["401", "404", "422", "429"]) },
        "/api/v1/me/webhook": {
            "get": op("Your webhook (url null when none); never the secret", true, none.clone(), None, ("200", ok("Webhook", r("Webhook"))), &["401"]),
            "put": op("Set the webhook URL (https, public address: SSRF guard); a new webhook's signing secret is in this answer only", true, none.clone(), Some(json!({ "type": "object", "required": ["url"], "properties": { "url": { "type": "string", "format": "uri", "maxLength": 2048 } } })), ("200", ok("Webhook", r("Webhook"))), &["401", "422"]),
            "delete": op("Remove the webhook", true, none.clone(), None, ("204", json!({ "description": "Removed (or there was none)" })), &["401"])
        },
        "/api/v1/me/webhook/test": { "post": op("Send a test event (\"event\": \"test\") to your webhook; counts against the test alert limit", true, none.clone(), None, ("202", ok("Queued", json!({ "type": "object", "properties": { "notification_id": { "type": "integer" } } }))), &["401", "404", "429"]) },
        "/api/v1/me/webhook/secret": { "post": op("Make a new signing secret (in this answer only); the old one stops working at once", true, none.clone(), None, ("200", ok("Webhook with its new secret", r("Webhook"))), &["401", "404"]) },
        "/api/v1/reports": { "get": secured_by(op("Damage reports: an association's (staff) or your own (merchant), newest first", true, json!([
            query_param("status", json!({ "type": "string", "enum": ["received", "verified", "rejected", "forwarded"] }), "only reports in this review status"),
            query_param("incident", schema_of("integer"), "only reports on this incident")
        ]), None, ("200", ok("Reports", list_of("reports", "Report"))), &["400", "401", "403", "422"]), &["bearer", "session"]) },
        "/api/v1/reports/{id}": { "get": secured_by(op("One report with its attachments", true, json!([path_param("id", "integer")]), None, ("200", ok("Report", r("Report"))), &["400", "401", "404"]), &["bearer", "session"]) },
        "/api/v1/reports/{id}/review": { "post": secured_by(op("Review a report (association staff): verify, reject with a reason, or forward", true, json!([
            path_param("id", "integer"),
            { "name": "X-CSRF-Token", "in": "header", "required": false, "schema": { "type": "string" }, "description": "required with a session cookie (the session's CSRF token); not with a bearer token" }
        ]), Some(r("ReviewInput")), ("200", ok("The report after the review", r("Report"))), &["400", "401", "403", "404", "422"]), &["bearer", "session"]) },
        "/api/v1/reports/incidents/{id}/totals": { "get": secured_by(op("An association's totals for one incident, beside the measured outage", true, json!([path_param("id", "integer")]), None, ("200", ok("Totals", r("IncidentTotals"))), &["400", "401", "404"]), &["bearer", "session"]) },
        "/api/v1/association/members": { "get": secured_by(op("An association's own members, contacts masked", true, json!([]), None, ("200", ok("Members", r("AssociationMembers"))), &["401", "404"]), &["bearer", "session"]) },
        "/api/v1/association/reach": { "get": secured_by(op("Live reach of the outage now: the association's members subscribed to what is down, and whether the alert reached them", true, json!([]), None, ("200", ok("Live reach", r("LiveReach"))), &["401", "404"]), &["bearer", "session"]) },
        "/api/v1/agent/checks": { "get": secured_by(op("The checks a remote probe agent runs", true, json!([
            query_param("location", json!({ "type": "string" }), "the agent's location; must be its token's")
        ]), None, ("200", ok("Checks", r("AgentChecks"))), &["401", "422"]), &["agent"]) },
        "/api/v1/agent/results": { "post": secured_by(op("A batch of probe results from a remote agent, oldest first (at most 1000)", true, json!([
            query_param("location", json!({ "type": "string" }), "the agent's location; must be its token's")
        ]), Some(r("AgentBatch")), ("200", ok("What was recorded", r("AgentAck"))), &["401", "422"]), &["agent"]) }
    })
}

/// Every schema (added in two steps: one `json!` with all of them passes the macro's
/// recursion limit).
fn schemas() -> Value {
    let mut s = base_schemas();
    s["Webhook"] = webhook_schema();
    s["AssociationMembers"] = json!({ "type": "object", "properties": { "members": { "type": "array", "items": { "type": "object", "properties": {
        "merchant_id": { "type": "integer" }, "business_name": { "type": "string" },
        "region": { "type": ["string", "null"] }, "trade": { "type": ["string", "null"] },
        "subscriptions": { "type": "array", "items": { "type": "string" } },
        "contacts": { "type": "array", "items": { "type": "object", "properties": {
            "position": { "type": "integer" }, "phone": { "type": ["string", "null"], "description": "masked" },
            "phone_verified": { "type": "boolean" }, "email": { "type": ["string", "null"], "description": "masked" },
            "email_verified": { "type": "boolean" } } } },
        "joined_at": { "type": "integer", "description": "epoch milliseconds" } } } } } });
    s["LiveReach"] = json!({ "type": "object", "properties": {
        "open_incident_ids": { "type": "array", "items": { "type": "integer" } },
        "members": { "type": "array", "items": { "type": "object", "properties": {
            "merchant_id": { "type": "integer" }, "business_name": { "type": "string" },
            "down_dependency_ids": { "type": "array", "items": { "type": "integer" } },
            "sms_delivered": { "type": "boolean" }, "email_sent": { "type": "boolean" },
            "acknowledged": { "type": "boolean" }, "reached": { "type": "boolean" },
            "phone": { "type": ["string", "null"], "description": "masked" } } } } } });
    s
}

fn base_schemas() -> Value {
    let time = json!({ "type": "string", "format": "date-time" });
    let state = json!({ "type": "string", "enum": ["unknown", "up", "degraded", "down"] });
    json!({
        "Error": { "type": "object", "required": ["error", "message"], "properties": {
            "error": { "type": "string", "enum": ["bad_request", "not_found", "method_not_allowed", "validation", "unauthorized", "forbidden", "conflict", "too_large", "unsupported_media_type", "too_many_requests", "internal"] },
            "message": { "type": "string" }, "field": { "type": ["string", "null"] } } },
        "Dependency": { "type": "object", "properties": {
            "slug": { "type": "string" }, "name": { "type": "string" }, "name_en": { "type": ["string", "null"] },
            "category": { "type": "string", "enum": ["messenger", "login", "payment", "map", "delivery", "network", "other"] },
            "platform": { "type": ["string", "null"] }, "description": { "type": ["string", "null"] }, "state": state, "since": time } },
        "DependencyDetail": { "allOf": [r("Dependency"), { "type": "object", "properties": {
            "checks": { "type": "array", "items": { "type": "object" } }, "incidents": { "type": "array", "items": r("Incident") } } }] },
        "Incident": { "type": "object", "properties": {
            "id": { "type": "integer" }, "dependency": { "type": "string" }, "severity": { "type": "string", "enum": ["down", "degraded"] },
            "started_at": time, "confirmed_at": time, "resolved_at": { "type": ["string", "null"], "format": "date-time" },
            "duration_seconds": { "type": "integer" }, "relapse_count": { "type": "integer" } } },
        "IncidentDetail": { "allOf": [r("Incident"), { "type": "object", "properties": {
            "agreed_locations": { "type": "array", "items": { "type": "string" }, "description": "Probe locations that agreed when the incident was confirmed" },
            "location_views": { "type": "array", "items": { "type": "object" }, "description": "Every location's view at confirmation: location, state, reported_at, counted, network_suspect, agreed" },
            "evidence": { "type": "object" }, "events": { "type": "array", "items": { "type": "object" } } } }] },
        "Subscription": { "type": "object", "properties": { "dependency": { "type": "string" }, "notify_degraded": { "type": "boolean" }, "state": state } },
        "SubscriptionInput": { "type": "object", "required": ["dependency"], "properties": { "dependency": { "type": "string" }, "notify_degraded": { "type": "boolean", "default": false } } },
        "Contact": { "type": "object", "properties": {
            "id": { "type": "integer" }, "position": { "type": "integer" }, "label": { "type": ["string", "null"] },
            "phone": { "type": ["string", "null"], "description": "E.164" }, "email": { "type": ["string", "null"] },
            "email_platform": { "type": ["string", "null"] }, "phone_verified": { "type": "boolean" },
            "email_verified": { "type": "boolean" }, "sms_opted_out": { "type": "boolean" },
            "voice_enabled": { "type": "boolean", "description": "alert calls ([voice]) to this contact's phone" } } },
        "ContactInput": contact_input_schema(),
        "Playbook": { "type": "object", "properties": { "category": { "type": "string" }, "text": { "type": "string" }, "custom": { "type": "boolean" } } },
        "Notification": { "type": "object", "properties": {
            "id": { "type": "integer" }, "kind": { "type": "string", "enum": ["down", "relapse", "followup", "recovery", "test", "store_offline", "store_back"] },
            "status": { "type": "string", "enum": ["open", "acked", "exhausted", "closed"], "description": "closed: a notice that wants no acknowledgement (recovery, test, store back) or whose acknowledgement window ended" }, "dependencies": { "type": "array", "items": { "type": "string" } },
            "created_at": time, "acknowledged_at": { "type": ["string", "null"], "format": "date-time" }, "acknowledged_via": { "type": ["string", "null"] },
            "messages": { "type": "array", "items": { "type": "object", "properties": {
                "channel": { "type": "string", "enum": ["sms", "email", "webhook"] }, "contact_position": { "type": "integer" },
                "state": { "type": "string" }, "attempts": { "type": "integer" }, "last_error": { "type": ["string", "null"] },
                "created_at": time, "delivered_at": { "type": ["string", "null"], "format": "date-time" } } } } } },
        "Report": report_schema(),
        "ReviewInput": { "type": "object", "required": ["action"], "properties": {
            "action": { "type": "string", "enum": ["verify", "reject", "forward"] },
            "reason": { "type": "string", "description": "required to reject" } } },
        "Group": { "type": "object", "properties": { "key": { "type": "string" }, "reports": { "type": "integer" }, "loss_krw": { "type": "integer" } } },
        "IncidentTotals": { "type": "object", "properties": {
            "incident": { "type": "object", "properties": {
                "id": { "type": "integer" }, "dependency": { "type": "string" }, "started_at": time,
                "resolved_at": { "type": ["string", "null"], "format": "date-time" },
                "duration_seconds": { "type": ["integer", "null"], "description": "first failed probe to first good probe; null while open" } } },
            "reports": { "type": "integer", "description": "every status but rejected" },
            "total_loss_krw": { "type": "integer" }, "median_loss_krw": { "type": "integer" }, "lost_orders": { "type": "integer" },
            "by_status": { "type": "object", "additionalProperties": { "type": "integer" } },
            "by_region": { "type": "array", "items": r("Group") }, "by_trade": { "type": "array", "items": r("Group") },
            "by_service": { "type": "array", "items": r("Group") } } },
        "AgentChecks": { "type": "object", "properties": {
            "location": { "type": "string" },
            "checks": { "type": "array", "items": { "type": "object", "properties": {
                "id": { "type": "integer" }, "dependency": { "type": "string" }, "dependency_id": { "type": "integer" },
                "check": { "type": "object", "description": "the check as configured (`[[dependency.check]]` keys)" },
                "allow_private": { "type": "boolean" } } } },
            "time_zone": { "type": "string", "description": "the service time zone cron schedules are read in" },
            "canaries": { "type": "array", "items": { "type": "string" }, "description": "the own-network guard's URLs: probe every 30 s and at once on a failure; any HTTP answer is reachable" } } },
        "AgentBatch": { "type": "object", "required": ["results"], "properties": {
            "network_suspect": { "type": "boolean", "description": "at least half the canaries gave no answer at the agent's last look: its results are recorded but set aside" },
            "results": { "type": "array", "maxItems": 1000, "items": { "type": "object", "required": ["check_id", "slot_at", "report"], "properties": {
                "check_id": { "type": "integer" }, "slot_at": { "type": "integer", "description": "Unix milliseconds" },
                "confirmation": { "type": "boolean", "default": false }, "report": r("ProbeReport") } } } } },
        "ProbeReport": { "type": "object", "required": ["started_at", "outcome", "timings"], "properties": {
            "started_at": { "type": "integer", "description": "Unix milliseconds" },
            "outcome": { "type": "string", "enum": ["ok", "degraded", "fail", "config_error"] },
            "class": { "type": ["string", "null"], "enum": ["provider", "config", "local_network", null] },
            "status": { "type": ["integer", "null"] }, "provider_code": { "type": ["string", "null"] },
            "error": { "type": ["string", "null"] }, "detail": { "type": ["string", "null"] },
            "resolver_failure": { "type": "boolean", "default": false },
            "timings": { "type": "object", "required": ["total_ms"], "properties": {
                "dns_ms": { "type": ["integer", "null"] }, "connect_ms": { "type": ["integer", "null"] }, "tls_ms": { "type": ["integer", "null"] },
                "first_byte_ms": { "type": ["integer", "null"] }, "total_ms": { "type": "integer" } } } } },
        "AgentAck": { "type": "object", "properties": {
            "accepted": { "type": "integer" }, "ignored": { "type": "integer" },
            "confirm": { "type": "array", "items": { "type": "object", "properties": { "check_id": { "type": "integer" }, "after_ms": { "type": "integer" } } } } } }
    })
}

/// One line of printable text: no NUL, control characters, line breaks or invisible
/// formatting characters (what `domain::text::check_line` refuses).
const PRINTABLE_LINE: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\ufffd]*$";

fn contact_input_schema() -> Value {
    let phone = "^(010-[2-9][0-9]{3}-[0-9]{4}|010[2-9][0-9]{7}|\\+8210[2-9][0-9]{7})$";
    json!({ "type": "object", "description": "a mobile number, an email, or both (an empty string is none)",
        "anyOf": [
            { "required": ["phone"], "properties": { "phone": { "minLength": 1 } } },
            { "required": ["email"], "properties": { "email": { "minLength": 1 } } }
        ],
        "properties": {
            "label": { "type": "string", "maxLength": 60, "pattern": PRINTABLE_LINE },
            "phone": { "type": "string", "anyOf": [{ "pattern": phone }, { "maxLength": 0 }], "example": "010-1234-5678", "description": "a Korean mobile number (010)" },
            "email": { "type": "string", "maxLength": 254, "anyOf": [{ "format": "email" }, { "maxLength": 0 }] } } })
}

fn webhook_schema() -> Value {
    json!({ "type": "object", "properties": {
        "url": { "type": ["string", "null"] },
        "created_at": { "type": ["string", "null"], "format": "date-time" },
        "updated_at": { "type": ["string", "null"], "format": "date-time" },
        "timestamp_header": { "type": "string" }, "signature_header": { "type": "string" },
        "secret": { "type": "string", "description": "only when just made: the HMAC-SHA256 key (the string's bytes)" } } })
}

fn report_schema() -> Value {
    let time = json!({ "type": "string", "format": "date-time" });
    let opt_time = json!({ "type": ["string", "null"], "format": "date-time" });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    json!({ "type": "object", "properties": {
        "id": { "type": "integer" }, "incident_id": { "type": "integer" },
        "status": { "type": "string", "enum": ["received", "verified", "rejected", "forwarded"] },
        "association_id": { "type": ["integer", "null"] }, "business_name": { "type": "string" },
        "business_registration_number": { "type": ["string", "null"] }, "contact": { "type": ["string", "null"] },
        "region_sido": { "type": "string" }, "region_sigungu": { "type": ["string", "null"] }, "trade": { "type": "string" },
        "affected_services": strings, "damage_kinds": strings,
        "estimated_loss_krw": { "type": "integer", "minimum": 0 }, "lost_orders": { "type": ["integer", "null"] },
        "description": { "type": "string" }, "outage_start": time, "outage_end": opt_time, "consent": { "type": "boolean" },
        "review_reason": { "type": ["string", "null"] }, "reviewed_at": opt_time, "forwarded_at": opt_time,
        "created_at": time, "updated_at": time,
        "attachments": { "type": "array", "description": "only on `GET /api/v1/reports/{id}`", "items": { "type": "object", "properties": {
            "id": { "type": "integer" }, "filename": { "type": "string" }, "content_type": { "type": "string" }, "size": { "type": "integer" } } } } } })
}

/// What every operation answers besides its own codes: 400 when it has path or query
/// parameters (one that does not parse), 413 and 422 when it takes a body (too large, or not
/// the JSON expected). The test alert's optional body is marked so.
fn complete(mut paths: Value) -> Value {
    for (path, ops) in paths.as_object_mut().into_iter().flatten() {
        for (_, op) in ops.as_object_mut().into_iter().flatten() {
            let has_params = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| matches!(p["in"].as_str(), Some("path" | "query")))
            });
            let has_body = op.get("requestBody").is_some();
            let mut extra = Vec::new();
            if has_params {
                extra.push("400");
            }
            if has_body {
                extra.extend(["413", "422"]);
            }
            if let Some(responses) = op["responses"].as_object_mut() {
                for (code, answer) in errors(&extra) {
                    responses.entry(code).or_insert(answer);
                }
            }
            if path == "/api/v1/me/test-alert" {
                op["requestBody"]["required"] = json!(false);
                op["requestBody"]["description"] =
                    json!("optional: without a body (or with `{}`) the first contact gets it");
            }
        }
    }
    paths
}

pub fn spec() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Meoktong API", "version": "1", "description": "Dependencies, incidents, a merchant's own alert settings, damage reports and remote probe agents. `/api/v1/me/...` needs `Authorization: Bearer <token>` (create one in the dashboard); `/api/v1/reports…` a bearer token or a session; `/api/v1/agent/…` an agent token. Every error is `{error, message, field}`." },
        "paths": complete(paths()),
        "components": { "schemas": schemas(), "securitySchemes": {
            "bearer": { "type": "http", "scheme": "bearer", "description": "an API token made in the dashboard (`/dashboard/tokens`) or with `meoktong token create --email E`" },
            "session": { "type": "apiKey", "in": "cookie", "name": "mt_session", "description": "a signed-in browser session; writes also need the session's `X-CSRF-Token` header" },
            "agent": { "type": "http", "scheme": "bearer", "description": "an agent token (`meoktong token create --email E --location NAME`), valid only for `/api/v1/agent/…` and its own location" } } }
    })
}

/// The document, with the dependencies this service knows as the enum of a subscription's
/// `dependency` (another slug is refused with 422).
pub async fn document(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
) -> Result<Json<Value>, crate::error::WebError> {
    let mut slugs: Vec<String> = super::public::slugs(&state).await?.into_values().collect();
    slugs.sort();
    let mut doc = spec();
    doc["components"]["schemas"]["SubscriptionInput"]["properties"]["dependency"]["enum"] =
        json!(slugs);
    Ok(Json(doc))
}

/// The (method, path) pairs this document describes, methods in lower case.
pub fn documented_routes() -> std::collections::BTreeSet<(String, String)> {
    let spec = spec();
    spec["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .into_iter()
                .flatten()
                .map(move |(method, _)| (method.clone(), path.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn documents_exactly_the_routed_endpoints() {
        let routed: std::collections::BTreeSet<(String, String)> = super::super::API_ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        let documented = super::documented_routes();
        assert_eq!(
            routed.difference(&documented).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "routed but not documented"
        );
        assert_eq!(
            documented.difference(&routed).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "documented but not routed"
        );
    }

    #[test]
    fn every_reference_resolves() {
        let spec = super::spec();
        let text = spec.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap_or_default();
            assert!(
                spec["components"]["schemas"].get(name).is_some(),
                "missing schema {name}"
            );
        }
    }
}
