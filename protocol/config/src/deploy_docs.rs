//! The check that deploy/config.yaml documents exactly what a binary's table reads.
//!
//! deploy/config.yaml is written for operators, so it stays hand-written; each binary has a
//! test that calls [`drift`] on its section and fails with one line per difference.

use yaml_rust2::{Yaml, YamlLoader};

use crate::table::{OnInvalid, Presence, Table, Var};

/// Where the section `section` of deploy/config.yaml (`yaml`, the file's text) and `table`
/// disagree, one line each; empty when they agree.
///
/// Each entry of the section is `NAME: {default: …, required: …, secret: true, on_error: …,
/// valid: …, note: …}`. Checked: the names (none missing, none extra); `default` equals the
/// table's default (`unset` or no `default` for a variable without one); `required` is `true`
/// for a required variable and names the other variable for "required when/unless";
/// `secret: true` exactly for secrets; `on_error`, when given, starts with `fail` exactly when
/// an invalid value can stop start-up, and with `default` otherwise. `valid` and `note` are
/// prose for operators and are not compared.
pub fn drift(table: &Table, yaml: &str, section: &str) -> Vec<String> {
    let docs = match YamlLoader::load_from_str(yaml) {
        Ok(docs) => docs,
        Err(e) => return vec![format!("deploy/config.yaml does not parse: {e}")],
    };
    let Some(entries) = docs.first().and_then(|root| root[section].as_hash()) else {
        return vec![format!("deploy/config.yaml has no `{section}:` mapping")];
    };
    let mut drift = Vec::new();
    for var in table.vars() {
        match entries.get(&Yaml::String(var.name().to_string())) {
            Some(entry) => drift.extend(compare(var, entry)),
            None => drift.push(format!(
                "{}: read by {}, missing from deploy/config.yaml `{section}:`",
                var.name(),
                table.binary()
            )),
        }
    }
    for name in entries.keys().filter_map(Yaml::as_str) {
        if table.vars().iter().all(|v| v.name() != name) {
            drift.push(format!(
                "{name}: in deploy/config.yaml `{section}:` but not read by {}",
                table.binary()
            ));
        }
    }
    drift
}

/// The differences for one variable.
fn compare(var: &Var, entry: &Yaml) -> Vec<String> {
    let name = var.name();
    let mut drift = Vec::new();

    let documented_default = scalar(&entry["default"]);
    match (var.presence(), documented_default.as_deref()) {
        (Presence::Default(text), Some(doc)) if doc == text => {}
        (Presence::Default(text), doc) => drift.push(format!(
            "{name}: default is {text:?} in the table, {} in deploy/config.yaml",
            doc.map_or("none".to_string(), |d| format!("{d:?}"))
        )),
        (_, None | Some("unset")) => {}
        (_, Some(doc)) => drift.push(format!(
            "{name}: has no default in the table; deploy/config.yaml says {doc:?} (write `unset` \
             and explain in `note`)"
        )),
    }

    let required = &entry["required"];
    let required_ok = match var.presence() {
        Presence::Required => *required == Yaml::Boolean(true),
        Presence::RequiredWhen(other) | Presence::RequiredUnless(other) => {
            required.as_str().is_some_and(|text| text.contains(other))
        }
        Presence::Default(_) | Presence::Optional => {
            matches!(required, Yaml::BadValue | Yaml::Boolean(false))
        }
    };
    if !required_ok {
        let want = match var.presence() {
            Presence::Required => "`required: true`".to_string(),
            Presence::RequiredWhen(other) => format!("`required: \"when {other} is set\"`"),
            Presence::RequiredUnless(other) => format!("`required: \"unless {other} is set\"`"),
            _ => "no `required`".to_string(),
        };
        drift.push(format!("{name}: the table says {want}"));
    }

    let documented_secret = entry["secret"] == Yaml::Boolean(true);
    if documented_secret != var.is_secret() {
        drift.push(format!(
            "{name}: {} in the table; deploy/config.yaml must say so with `secret: true` (only then)",
            if var.is_secret() { "secret" } else { "not secret" }
        ));
    }

    if let Some(on_error) = scalar(&entry["on_error"]) {
        let can_fail = !matches!(var.on_invalid(), OnInvalid::UseDefault)
            || matches!(var.presence(), Presence::Required);
        let documented_fail = on_error.starts_with("fail");
        if documented_fail != can_fail || (!can_fail && !on_error.starts_with("default")) {
            drift.push(format!(
                "{name}: an invalid value {} (table); deploy/config.yaml says on_error: {on_error:?}",
                if can_fail {
                    "stops start-up: write `fail…`"
                } else {
                    "warns and uses the default: write `default…`"
                }
            ));
        }
    }
    drift
}

/// A YAML scalar as text (`8081`, `true` and `"8081"` alike); `None` for anything else.
fn scalar(yaml: &Yaml) -> Option<String> {
    match yaml {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}
