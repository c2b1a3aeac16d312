//! Checkers for the published schemas in tests/data/schema (their README says
//! where each came from): a JSON Schema validator for the keywords the OCSF
//! schemas use, and a checker of ECS documents against ECS's field table and
//! categorization values. Each refuses what it does not understand (an
//! unknown keyword, an ECS type it cannot map), so a schema it cannot fully
//! apply fails the test instead of passing it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/schema");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{SCHEMAS}/{name}"))
        .unwrap_or_else(|e| panic!("{SCHEMAS}/{name}: {e}"))
}

/// A JSON Schema (draft 2020-12) of the subset ocsf-json-schema generates:
/// type, properties, additionalProperties, required, anyOf, oneOf, enum,
/// const, items, maxLength, minimum, maximum, pattern and local `$ref`s into
/// `$defs`; title, deprecated, $schema and $id are annotations.
pub struct JsonSchema {
    root: Value,
    patterns: std::cell::RefCell<BTreeMap<String, regex::Regex>>,
}

/// What `JsonSchema::validate` found wrong, each error with its JSON pointer,
/// and the deprecated attributes used.
#[derive(Debug, Default)]
pub struct Outcome {
    pub errors: Vec<String>,
    pub deprecated: Vec<String>,
}

impl JsonSchema {
    pub fn load(name: &str) -> JsonSchema {
        JsonSchema::new(serde_json::from_str(&read(name)).expect("the schema is JSON"))
    }

    pub fn new(root: Value) -> JsonSchema {
        JsonSchema { root, patterns: Default::default() }
    }

    pub fn validate(&self, v: &Value) -> Outcome {
        let mut out = Outcome::default();
        self.check(&self.root, v, "", &mut out);
        out
    }

    fn resolve<'a>(&'a self, r: &str) -> Option<&'a Value> {
        self.root.pointer(r.strip_prefix('#')?)
    }

    fn check(&self, s: &Value, v: &Value, at: &str, out: &mut Outcome) {
        let Some(s) = s.as_object() else {
            out.errors.push(format!("{at}: the schema is not an object"));
            return;
        };
        for (k, rule) in s {
            match k.as_str() {
                "title" | "$schema" | "$id" | "$defs" | "additionalProperties" => {}
                "deprecated" => {
                    if rule == &Value::Bool(true) {
                        out.deprecated.push(at.to_string());
                    }
                }
                "$ref" => match rule.as_str().and_then(|r| self.resolve(r)) {
                    Some(target) => self.check(target, v, at, out),
                    None => out.errors.push(format!("{at}: unresolved $ref {rule}")),
                },
                "type" => {
                    let ok = match rule {
                        Value::String(t) => is_type(v, t),
                        Value::Array(ts) => {
                            ts.iter().any(|t| t.as_str().is_some_and(|t| is_type(v, t)))
                        }
                        _ => false,
                    };
                    if !ok {
                        out.errors.push(format!("{at}: {v} is not of type {rule}"));
                    }
                }
                "enum" => {
                    if !rule.as_array().is_some_and(|e| e.contains(v)) {
                        out.errors.push(format!("{at}: {v} is not one of {rule}"));
                    }
                }
                "const" => {
                    if rule != v {
                        out.errors.push(format!("{at}: {v} is not {rule}"));
                    }
                }
                "required" => {
                    if let Some(o) = v.as_object() {
                        for name in rule.as_array().into_iter().flatten().filter_map(Value::as_str)
                        {
                            if !o.contains_key(name) {
                                out.errors.push(format!("{at}: required {name:?} is missing"));
                            }
                        }
                    }
                }
                "properties" => {
                    let Some(o) = v.as_object() else { continue };
                    let props = rule.as_object().expect("properties is an object");
                    let closed = s.get("additionalProperties") == Some(&Value::Bool(false));
                    for (name, value) in o {
                        match props.get(name) {
                            Some(p) => self.check(p, value, &format!("{at}/{name}"), out),
                            None if closed => {
                                out.errors.push(format!("{at}: {name:?} is not a property"))
                            }
                            None => {}
                        }
                    }
                }
                "items" => {
                    for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                        self.check(rule, item, &format!("{at}/{i}"), out);
                    }
                }
                "anyOf" | "oneOf" => {
                    let passing = rule
                        .as_array()
                        .expect("anyOf and oneOf are arrays")
                        .iter()
                        .filter(|sub| self.validate_at(sub, v).errors.is_empty())
                        .count();
                    let ok = if k == "anyOf" { passing > 0 } else { passing == 1 };
                    if !ok {
                        out.errors.push(format!("{at}: {k} holds for {passing} of {rule}"));
                    }
                }
                "maxLength" => {
                    let max = rule.as_u64().expect("maxLength is a number");
                    if v.as_str().is_some_and(|t| t.chars().count() as u64 > max) {
                        out.errors.push(format!("{at}: longer than {max}"));
                    }
                }
                "minimum" | "maximum" => {
                    let (Some(n), Some(limit)) = (v.as_f64(), rule.as_f64()) else { continue };
                    if (k == "minimum" && n < limit) || (k == "maximum" && n > limit) {
                        out.errors.push(format!("{at}: {v} is out of range ({k} {rule})"));
                    }
                }
                "pattern" => {
                    let (Some(t), Some(p)) = (v.as_str(), rule.as_str()) else { continue };
                    let mut cache = self.patterns.borrow_mut();
                    let re = cache.entry(p.to_string()).or_insert_with(|| {
                        regex::Regex::new(p).unwrap_or_else(|e| panic!("pattern {p}: {e}"))
                    });
                    if !re.is_match(t) {
                        out.errors.push(format!("{at}: {t:?} does not match {p}"));
                    }
                }
                other => out.errors.push(format!("{at}: unsupported keyword {other:?}")),
            }
        }
    }

    fn validate_at(&self, s: &Value, v: &Value) -> Outcome {
        let mut out = Outcome::default();
        self.check(s, v, "", &mut out);
        out
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// ECS's field table and categorization values.
pub struct Ecs {
    /// Field name -> (ECS type, whether it may be an array).
    pub fields: BTreeMap<String, (String, bool)>,
    kinds: BTreeSet<String>,
    outcomes: BTreeSet<String>,
    types: BTreeSet<String>,
    /// Category -> its expected event types.
    categories: BTreeMap<String, BTreeSet<String>>,
}

impl Ecs {
    pub fn load() -> Ecs {
        let mut fields = BTreeMap::new();
        let csv = read("ecs-fields.csv");
        let mut lines = csv.lines();
        let header = csv_row(lines.next().expect("a header"));
        let col = |name: &str| header.iter().position(|h| h == name).expect(name);
        let (field, ty, norm) = (col("Field"), col("Type"), col("Normalization"));
        for line in lines {
            let row = csv_row(line);
            fields.insert(row[field].clone(), (row[ty].clone(), row[norm] == "array"));
        }
        let mut ecs = Ecs {
            fields,
            kinds: BTreeSet::new(),
            outcomes: BTreeSet::new(),
            types: BTreeSet::new(),
            categories: BTreeMap::new(),
        };
        for line in read("ecs-categorization.txt").lines().filter(|l| !l.starts_with('#')) {
            let mut words = line.split_whitespace();
            let (Some(what), Some(name)) = (words.next(), words.next()) else { continue };
            let name = name.to_string();
            match what {
                "kind" => drop(ecs.kinds.insert(name)),
                "outcome" => drop(ecs.outcomes.insert(name)),
                "type" => drop(ecs.types.insert(name)),
                "category" => drop(ecs.categories.insert(name, words.map(String::from).collect())),
                _ => panic!("ecs-categorization.txt: {line}"),
            }
        }
        ecs
    }

    /// Every error in `doc`: a field ECS does not define (outside
    /// `sockwatch.*`), a value of the wrong JSON type for its ECS type, a null,
    /// and categorization values that are not allowed or not allowed together.
    pub fn check(&self, doc: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        let mut leaves = Vec::new();
        flatten(doc, "", &mut leaves);
        for (name, value) in &leaves {
            if name == "sockwatch" || name.starts_with("sockwatch.") {
                continue;
            }
            let Some((ty, array)) = self.fields.get(name) else {
                errors.push(format!("{name}: not an ECS field"));
                continue;
            };
            let values: Vec<&Value> = match value {
                Value::Array(items) if *array => items.iter().collect(),
                Value::Array(_) => {
                    errors.push(format!("{name}: an array, but ECS's {name} is not one"));
                    continue;
                }
                v => vec![v],
            };
            for v in values {
                if let Err(e) = fits(v, ty) {
                    errors.push(format!("{name}: {v} {e}"));
                }
            }
        }
        for required in ["@timestamp", "ecs.version", "event.kind", "message"] {
            if !leaves.iter().any(|(n, _)| n == required) {
                errors.push(format!("{required}: missing"));
            }
        }
        let strings = |p: &str| -> Vec<String> {
            match doc.pointer(p) {
                Some(Value::Array(a)) => {
                    a.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect()
                }
                Some(Value::String(s)) => vec![s.clone()],
                _ => vec![],
            }
        };
        for k in strings("/event/kind") {
            if !self.kinds.contains(&k) {
                errors.push(format!("event.kind {k:?} is not allowed"));
            }
        }
        for o in strings("/event/outcome") {
            if !self.outcomes.contains(&o) {
                errors.push(format!("event.outcome {o:?} is not allowed"));
            }
        }
        let (categories, types) = (strings("/event/category"), strings("/event/type"));
        for c in &categories {
            match self.categories.get(c) {
                None => errors.push(format!("event.category {c:?} is not allowed")),
                Some(expected) if !types.iter().any(|t| expected.contains(t)) => errors.push(
                    format!("event.category {c:?} has none of its expected types in {types:?}"),
                ),
                Some(_) => {}
            }
        }
        for t in &types {
            if !self.types.contains(t) {
                errors.push(format!("event.type {t:?} is not allowed"));
            } else if !categories
                .iter()
                .any(|c| self.categories.get(c).is_some_and(|e| e.contains(t)))
            {
                errors.push(format!("event.type {t:?} is expected by none of {categories:?}"));
            }
        }
        errors
    }
}

/// Objects flattened to dotted names; arrays and scalars are leaves.
fn flatten(v: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(v, &name, out);
            }
        }
        v => out.push((prefix.to_string(), v.clone())),
    }
}

/// Whether a JSON value may be the value of a field of this ECS type.
fn fits(v: &Value, ty: &str) -> Result<(), String> {
    let ok = match ty {
        "keyword" | "constant_keyword" | "wildcard" | "text" | "match_only_text" => v.is_string(),
        "long" | "integer" | "short" | "byte" => v.is_i64() || v.is_u64(),
        "unsigned_long" => v.is_u64(),
        "float" | "double" | "scaled_float" | "half_float" => v.is_number(),
        "boolean" => v.is_boolean(),
        "date" => v.as_str().is_some_and(is_rfc3339),
        "ip" => v.as_str().is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        other => return Err(format!("has ECS type {other}, which this checker cannot map")),
    };
    if ok { Ok(()) } else { Err(format!("does not fit ECS type {ty}")) }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn is_rfc3339(s: &str) -> bool {
    let re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
        .expect("a valid regex");
    re.is_match(s)
}

/// One CSV row: fields split on commas outside double quotes, `""` inside
/// quotes being one quote.
pub fn csv_row(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}
