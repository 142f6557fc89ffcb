//! The API reference is true: `ca-server/openapi.json` is what `caforge serve` serves at
//! `/api/v1/openapi.json`; every schema in it compiles (JSON Schema 2020-12, checked by the
//! `boon` validator); every example request in it is executed as written against a live
//! server; and every request and response of every handler — successes and problem
//! documents — is validated against the schema the document gives for it.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;

use boon::{Compiler, SchemaIndex, Schemas};
use caforge_tests::server::{api, token, Server};
use caforge_tests::Home;
use serde_json::Value;

/// Where the document is loaded from in the validator (never fetched).
const BASE: &str = "http://caforge.test/openapi.json";

/// The checked-in document.
fn document_text() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ca-server/openapi.json");
    std::fs::read_to_string(path).expect("ca-server/openapi.json")
}

/// Every schema the document uses, compiled.
struct Reference {
    doc: Value,
    schemas: Schemas,
    index: BTreeMap<String, SchemaIndex>,
}

impl Reference {
    fn load() -> Reference {
        let doc: Value = serde_json::from_str(&document_text()).expect("the document is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut compiler = Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler
            .add_resource(BASE, doc.clone())
            .expect("add the document");
        let mut schemas = Schemas::new();
        let mut index = BTreeMap::new();
        let names: Vec<String> = doc["components"]["schemas"]
            .as_object()
            .expect("components.schemas")
            .keys()
            .cloned()
            .collect();
        for name in names {
            let pointer = format!("/components/schemas/{name}");
            let i = compiler
                .compile(&format!("{BASE}#{pointer}"), &mut schemas)
                .unwrap_or_else(|e| panic!("schema {name}: {e}"));
            index.insert(pointer, i);
        }
        Reference {
            doc,
            schemas,
            index,
        }
    }

    /// The operation at `path` (as written in the document) and `method`.
    fn operation(&self, path: &str, method: &str) -> &Value {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "the document has no {method} {path}");
        op
    }

    /// Validates `instance` against the schema `schema` (a `$ref` or an inline schema of
    /// the document, at JSON pointer `at`).
    fn check(&mut self, schema: &Value, at: &str, instance: &Value, what: &str) {
        let pointer = match schema["$ref"].as_str() {
            Some(r) => r.trim_start_matches('#').to_owned(),
            None => at.to_owned(),
        };
        let i = match self.index.get(&pointer) {
            Some(i) => *i,
            None => {
                let mut compiler = Compiler::new();
                compiler.set_default_draft(boon::Draft::V2020_12);
                compiler
                    .add_resource(BASE, self.doc.clone())
                    .expect("add the document");
                let i = compiler
                    .compile(&format!("{BASE}#{pointer}"), &mut self.schemas)
                    .unwrap_or_else(|e| panic!("schema at {pointer}: {e}"));
                self.index.insert(pointer.clone(), i);
                i
            }
        };
        if let Err(e) = self.schemas.validate(instance, i) {
            panic!("{what} does not match {pointer}: {e}\n{instance:#}");
        }
    }

    /// Validates a response of `method path` with `status` and JSON `body`.
    fn response(&mut self, path: &str, method: &str, status: u16, body: &str) {
        let op = self.operation(path, method).clone();
        let response = &op["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path} answered {status}, which the document does not list: {body}"
        );
        let (media, content) = response["content"]
            .as_object()
            .and_then(|c| c.iter().next())
            .unwrap_or_else(|| panic!("{method} {path} {status}: no content in the document"));
        let value: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{method} {path} {status}: not JSON ({e}): {body}"));
        let at = format!(
            "/paths/{}/{method}/responses/{status}/content/{}/schema",
            path.replace('~', "~0").replace('/', "~1"),
            media.replace('~', "~0").replace('/', "~1")
        );
        self.check(
            &content["schema"],
            &at,
            &value,
            &format!("{method} {path} {status}"),
        );
    }

    /// Validates a request body of `method path`.
    fn request(&mut self, path: &str, method: &str, body: &Value) {
        let op = self.operation(path, method).clone();
        let schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
        self.check(&schema, "", body, &format!("{method} {path} request"));
    }
}

#[test]
fn the_api_reference_is_served_and_every_handler_matches_it() {
    let mut reference = Reference::load();
    let h = Home::new();
    h.create_root("root", "p256", &[]);
    h.create_intermediate("root", "issuing", "p256", &[]);
    let server = Server::start(&h);
    let bearer = token(&h, "issuing", "tls-server");

    // Served, without a token, exactly as checked in.
    let (code, headers, body) = api(&h, &server, "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(code, 200, "{body}");
    assert!(
        headers.contains("content-type: application/json"),
        "{headers}"
    );
    assert_eq!(body, document_text());
    reference.response("/api/v1/openapi.json", "get", code, &body);

    // Every example request, as written; the issue examples first (later ones act on what
    // they issued).
    let mut serial: Option<String> = None;
    let mut examples: Vec<(String, String, Value)> = Vec::new();
    for (path, item) in reference.doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(all) =
                op["requestBody"]["content"]["application/json"]["examples"].as_object()
            else {
                continue;
            };
            for example in all.values() {
                examples.push((path.clone(), method.clone(), example["value"].clone()));
            }
        }
    }
    examples.sort_by_key(|(path, _, _)| path.contains("{serial}"));
    assert!(
        examples.len() >= 2,
        "the document has {} examples",
        examples.len()
    );
    for (path, method, value) in &examples {
        reference.request(path, method, value);
        let real = match &serial {
            Some(s) => path.replace("{serial}", s),
            None => path.clone(),
        };
        let (code, _, body) = api(
            &h,
            &server,
            &method.to_uppercase(),
            &real,
            Some(bearer.as_str()),
            Some(&value.to_string()),
        );
        assert!(
            (200..300).contains(&code),
            "example {method} {path}: {code} {body}"
        );
        reference.response(path, method, code, &body);
        if serial.is_none() {
            let issued: Value = serde_json::from_str(&body).unwrap();
            serial = issued["serial"].as_str().map(str::to_owned);
        }
    }
    let serial = serial.expect("an issue example ran first");

    // The other handlers and their problems.
    let b = Some(bearer.as_str());
    let one = "/api/v1/certificates/{serial}";
    let list = "/api/v1/certificates";
    for (method, path, real, token, body, status) in [
        ("get", list, list.to_owned(), b, None, 200),
        (
            "get",
            list,
            format!("{list}?limit=1&status=revoked"),
            b,
            None,
            200,
        ),
        ("get", list, format!("{list}?limit=0"), b, None, 400),
        ("get", list, list.to_owned(), None, None, 401),
        ("get", list, list.to_owned(), Some("not-a-token"), None, 401),
        ("get", one, one.replace("{serial}", &serial), b, None, 200),
        (
            "get",
            one,
            one.replace("{serial}", "0123456789ABCDEF"),
            b,
            None,
            404,
        ),
        // The API takes whole serials: the operator's shorthand (the last 8 digits) finds
        // nothing, so a token learns nothing about other certificates through it.
        (
            "get",
            one,
            one.replace("{serial}", &serial[serial.len() - 8..]),
            b,
            None,
            404,
        ),
        ("post", list, list.to_owned(), b, Some("{\"ca\": 1"), 400),
        (
            "post",
            list,
            list.to_owned(),
            b,
            Some(r#"{"ca": "nope", "csr": "x"}"#),
            404,
        ),
        (
            "post",
            "/api/v1/certificates/{serial}/revoke",
            format!("/api/v1/certificates/{serial}/revoke"),
            b,
            Some(r#"{"reason": "superseded"}"#),
            409,
        ),
    ] {
        let (code, _, text) = api(&h, &server, &method.to_uppercase(), &real, token, body);
        assert_eq!(code, status, "{method} {real}: {text}");
        reference.response(path, method, code, &text);
    }
}
