//! The configuration file's `[[allow]]` entries, validated into allow rules
//! (`core::allow`), each error located at its entry's key.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, line_of};
use crate::core::allow::{AllowRule, Glob};

/// The allowlist, `[[allow]]` entries (sockwatch.toml(5) has its own section).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Allowlist {
    #[serde(default, deserialize_with = "super::allow_entries")]
    pub allow: Vec<AllowEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an [[allow]] table with any of image_id, container_id, image, name, label, exe"
)]
pub(super) struct AllowEntry {
    image: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    label: Option<Spanned<String>>,
    exe: Option<Spanned<String>>,
    container_id: Option<Spanned<String>>,
    image_id: Option<Spanned<String>>,
}

/// The `i`th entry of the file at `path` (whose text is `text`) as a rule.
pub(super) fn rule(
    path: &Path,
    text: &str,
    i: usize,
    a: AllowEntry,
) -> Result<AllowRule, ConfigError> {
    let err = |s: &Spanned<String>, k: &str, message: String| ConfigError {
        file: path.to_path_buf(),
        line: line_of(text, s.span().start),
        key: Some(format!("allow[{i}].{k}")),
        message,
    };
    let glob = |v: Option<Spanned<String>>, k: &str| -> Result<Option<Glob>, ConfigError> {
        v.map(|s| Glob::new(s.get_ref()).map_err(|e| err(&s, k, e))).transpose()
    };
    let label = match a.label {
        None => None,
        Some(s) => match s.get_ref().split_once('=') {
            Some((k, v)) if !k.is_empty() => Some((k.to_string(), v.to_string())),
            _ => return Err(err(&s, "label", format!("{:?} is not key=value", s.get_ref()))),
        },
    };
    let container_id = match a.container_id {
        None => None,
        Some(s)
            if (12..=64).contains(&s.get_ref().len())
                && s.get_ref().bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Some(s.into_inner().to_lowercase())
        }
        Some(s) => {
            let msg = format!("{:?} is not a container id (12 to 64 hex digits)", s.get_ref());
            return Err(err(&s, "container_id", msg));
        }
    };
    let image_id = match a.image_id {
        None => None,
        Some(s) => match crate::core::runtime_state::image_id(s.get_ref()) {
            Some(id) => Some(id),
            None => {
                let msg = format!(
                    "{:?} is not an image id (sha256: and 64 hex digits, as `docker inspect -f {{{{.Image}}}}` prints it)",
                    s.get_ref()
                );
                return Err(err(&s, "image_id", msg));
            }
        },
    };
    let exe = match a.exe {
        None => None,
        Some(s) if s.get_ref().starts_with('/') => Some(s.into_inner()),
        Some(s) => {
            return Err(err(&s, "exe", format!("{:?} is not an absolute path", s.get_ref())));
        }
    };
    let rule = AllowRule {
        image: glob(a.image, "image")?,
        name: glob(a.name, "name")?,
        label,
        exe,
        container_id,
        image_id,
    };
    if rule.is_empty() {
        return Err(ConfigError {
            file: path.to_path_buf(),
            line: nth_allow_line(text, i),
            key: Some(format!("allow[{i}]")),
            message:
                "an [[allow]] entry needs at least one of image_id, container_id, image, name, label, exe"
                    .into(),
        });
    }
    Ok(rule)
}

fn nth_allow_line(text: &str, n: usize) -> usize {
    let is_allow = |l: &str| {
        l.split('#').next().unwrap_or("").chars().filter(|c| !c.is_whitespace()).collect::<String>()
            == "[[allow]]"
    };
    text.lines().enumerate().filter(|(_, l)| is_allow(l)).nth(n).map_or(1, |(i, _)| i + 1)
}
