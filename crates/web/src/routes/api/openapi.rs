//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every `/api/v1` endpoint.
//!
//! Written by hand as JSON rather than derived with utoipa: the handlers answer
//! `serde_json::Value` built from storage models, so derives would have needed a parallel set
//! of schema types; a black-box test (`tests/tests/api.rs`) calls every path listed here so
//! the document cannot drift from the routes.
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
                "401" => "Missing or bad bearer token",
                "404" => "Not found (another merchant's ids do not exist)",
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

fn path_param(name: &str, kind: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": kind } })
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
            { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }
        ]), None, ("200", ok("Incidents", list_of("incidents", "Incident"))), &["404"]) },
        "/api/v1/incidents/{id}": { "get": op("One incident with its evidence trail", false, json!([path_param("id", "integer")]), None, ("200", ok("Incident", r("IncidentDetail"))), &["404"]) },
        "/api/v1/me/subscriptions": {
            "get": op("The dependencies you are alerted about", true, none.clone(), None, ("200", ok("Subscriptions", list_of("subscriptions", "Subscription"))), &["401"]),
            "put": op("Replace your subscriptions", true, none.clone(), Some(json!({ "type": "object", "required": ["subscriptions"], "properties": { "subscriptions": { "type": "array", "items": r("SubscriptionInput") } } })), ("200", ok("Subscriptions", list_of("subscriptions", "Subscription"))), &["401", "422"])
        },
        "/api/v1/me/contacts": {
            "get": op("Your contacts, in the order they are tried", true, none.clone(), None, ("200", ok("Contacts", list_of("contacts", "Contact"))), &["401"]),
            "post": op("Add a contact at the end", true, none.clone(), Some(r("ContactInput")), ("201", ok("The new contact", r("Contact"))), &["401", "422"])
        },
        "/api/v1/me/contacts/{id}": { "delete": op("Remove a contact (not the last one)", true, json!([path_param("id", "integer")]), None, ("204", json!({ "description": "Removed" })), &["401", "404", "422"]) },
        "/api/v1/me/playbooks": { "get": op("What to do per category (yours or the default)", true, none.clone(), None, ("200", ok("Playbooks", list_of("playbooks", "Playbook"))), &["401"]) },
        "/api/v1/me/playbooks/{category}": { "put": op("Set a category's playbook (empty text: the default)", true, json!([path_param("category", "string")]), Some(json!({ "type": "object", "required": ["text"], "properties": { "text": { "type": "string", "maxLength": 2000 } } })), ("200", ok("Playbook", r("Playbook"))), &["401", "404", "422"]) },
        "/api/v1/me/notifications": { "get": op("Alerts sent to you, newest first", true, json!([{ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 200 } }]), None, ("200", ok("Notifications", list_of("notifications", "Notification"))), &["401"]) },
        "/api/v1/me/notifications/{id}": { "get": op("One alert with every message", true, json!([path_param("id", "integer")]), None, ("200", ok("Notification", r("Notification"))), &["401", "404"]) },
        "/api/v1/me/test-alert": { "post": op("Send a test alert to a contact (default: the first)", true, none, Some(json!({ "type": "object", "properties": { "contact_id": { "type": "integer" } } })), ("202", ok("Queued", json!({ "type": "object", "properties": { "notification_id": { "type": "integer" } } }))), &["401", "404", "422"]) }
    })
}

fn schemas() -> Value {
    let time = json!({ "type": "string", "format": "date-time" });
    let state = json!({ "type": "string", "enum": ["unknown", "up", "degraded", "down"] });
    json!({
        "Error": { "type": "object", "required": ["error", "message"], "properties": {
            "error": { "type": "string", "enum": ["not_found", "validation", "unauthorized", "forbidden", "internal"] },
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
            "evidence": { "type": "object" }, "events": { "type": "array", "items": { "type": "object" } } } }] },
        "Subscription": { "type": "object", "properties": { "dependency": { "type": "string" }, "notify_degraded": { "type": "boolean" }, "state": state } },
        "SubscriptionInput": { "type": "object", "required": ["dependency"], "properties": { "dependency": { "type": "string" }, "notify_degraded": { "type": "boolean", "default": false } } },
        "Contact": { "type": "object", "properties": {
            "id": { "type": "integer" }, "position": { "type": "integer" }, "label": { "type": ["string", "null"] },
            "phone": { "type": ["string", "null"], "description": "E.164" }, "email": { "type": ["string", "null"] },
            "email_platform": { "type": ["string", "null"] }, "phone_verified": { "type": "boolean" },
            "email_verified": { "type": "boolean" }, "sms_opted_out": { "type": "boolean" } } },
        "ContactInput": { "type": "object", "description": "a mobile number, an email, or both", "properties": {
            "label": { "type": "string" }, "phone": { "type": "string", "example": "010-1234-5678" }, "email": { "type": "string" } } },
        "Playbook": { "type": "object", "properties": { "category": { "type": "string" }, "text": { "type": "string" }, "custom": { "type": "boolean" } } },
        "Notification": { "type": "object", "properties": {
            "id": { "type": "integer" }, "kind": { "type": "string", "enum": ["down", "relapse", "followup", "recovery", "test", "store_offline", "store_back"] },
            "status": { "type": "string", "enum": ["open", "acked", "exhausted"] }, "dependencies": { "type": "array", "items": { "type": "string" } },
            "created_at": time, "acknowledged_at": { "type": ["string", "null"], "format": "date-time" }, "acknowledged_via": { "type": ["string", "null"] },
            "messages": { "type": "array", "items": { "type": "object", "properties": {
                "channel": { "type": "string", "enum": ["sms", "email", "webhook"] }, "contact_position": { "type": "integer" },
                "state": { "type": "string" }, "attempts": { "type": "integer" }, "last_error": { "type": ["string", "null"] },
                "created_at": time, "delivered_at": { "type": ["string", "null"], "format": "date-time" } } } } } }
    })
}

pub fn spec() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Meoktong API", "version": "1", "description": "Dependencies, incidents and a merchant's own alert settings. `/api/v1/me/...` needs `Authorization: Bearer <token>` (create one in the dashboard)." },
        "paths": paths(),
        "components": { "schemas": schemas(), "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } }
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}

#[cfg(test)]
mod tests {
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
