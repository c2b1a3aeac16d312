//! The allowlist: findings an operator has decided are legitimate (a Portainer or
//! Traefik container that is meant to reach the socket). A rule matches when every
//! field it gives matches; a finding is allowed when any rule matches. Allowed
//! findings are counted, not emitted.
//!
//! A finding about a host process (SW-1001 or SW-1002 by a process on the host)
//! carries the container marker `host`, which is no container: an entry that
//! names anything of a container (image, name, label, container_id, image_id)
//! never matches it, so `name = "*"` does not allow what the host does, and an
//! entry meant for a container named `host` does not either. An entry with
//! `exe` alone matches the host's program of that path (and a container's).

use super::finding::Finding;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowRule {
    pub image: Option<Glob>,
    pub name: Option<Glob>,
    /// `key=value`, exactly.
    pub label: Option<(String, String)>,
    /// The executable's full path, exactly.
    pub exe: Option<String>,
    /// A full id or a prefix of at least 12 hex digits, lower case.
    pub container_id: Option<String>,
    /// The image's content digest, `sha256:` and 64 hex digits, lower case.
    pub image_id: Option<String>,
}

impl AllowRule {
    pub fn is_empty(&self) -> bool {
        self.image.is_none()
            && self.name.is_none()
            && self.label.is_none()
            && self.exe.is_none()
            && self.container_id.is_none()
            && self.image_id.is_none()
    }

    /// Whether everything this entry matches on can be chosen by whoever starts
    /// a container, or by the container itself: an image tag (`docker tag x
    /// trusted:1`), a name, a label, the path of an executable inside it. Only
    /// `image_id` (the image's content) and `container_id` pin it down.
    pub fn only_mutable(&self) -> bool {
        self.image_id.is_none() && self.container_id.is_none()
    }

    /// Whether the entry says anything about a container.
    fn names_a_container(&self) -> bool {
        self.image.is_some()
            || self.name.is_some()
            || self.label.is_some()
            || self.container_id.is_some()
            || self.image_id.is_some()
    }

    pub fn matches(&self, f: &Finding) -> bool {
        let c = &f.container;
        if c.is_host() && self.names_a_container() {
            return false;
        }
        let glob = |g: &Option<Glob>, v: &Option<String>| {
            g.as_ref().is_none_or(|g| v.as_deref().is_some_and(|v| g.matches(v)))
        };
        glob(&self.image, &c.image)
            && glob(&self.name, &c.name)
            && self.label.as_ref().is_none_or(|(k, v)| c.labels.get(k) == Some(v))
            // An exe that is not UTF-8 has a _hex sibling and never equals a config string.
            && self.exe.as_ref().is_none_or(|e| f.process.exe_hex.is_none() && f.process.exe.as_ref() == Some(e))
            && self.container_id.as_ref().is_none_or(|id| c.id.as_deref().is_some_and(|cid| cid.starts_with(id.as_str())))
            && self.image_id.as_ref().is_none_or(|id| c.image_id.as_ref() == Some(id))
    }
}

pub fn allowed(rules: &[AllowRule], f: &Finding) -> bool {
    rules.iter().any(|r| r.matches(f))
}

/// Whether any rule looks at what only the runtime's state tells (name, image,
/// image digest, labels): without one, a finding is judged before that state
/// is read, and `--respond` acts that much sooner.
pub fn needs_metadata(rules: &[AllowRule]) -> bool {
    rules
        .iter()
        .any(|r| r.image.is_some() || r.name.is_some() || r.label.is_some() || r.image_id.is_some())
}

/// A shell-style pattern: `*` (any run), `?` (one character), `[abc]`, `[a-z]`,
/// `[!x]`. The whole string must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '[' {
                // The matcher's own parse decides; a class it cannot read is an error.
                match class(&chars, i, 'a') {
                    Some((_, next)) => i = next,
                    None => return Err(format!("unterminated [ in glob {pattern:?}")),
                }
            } else {
                i += 1;
            }
        }
        Ok(Glob { pattern: chars })
    }

    pub fn matches(&self, s: &str) -> bool {
        let text: Vec<char> = s.chars().collect();
        match_from(&self.pattern, &text)
    }
}

fn match_from(p: &[char], t: &[char]) -> bool {
    // Iterative with backtracking to the last '*': linear in practice, no recursion
    // depth to exhaust on long names.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, next)) = class(p, pi, t[ti]) {
                        if ok {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    }
                }
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether `c` is in the class starting at `p[start]` ('['); returns the index
/// after its ']'.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&'!');
    if negate {
        i += 1;
    }
    let first = i;
    let mut hit = false;
    while i < p.len() && (p[i] != ']' || i == first) {
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            hit |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
    }
    (i < p.len()).then_some((hit != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::finding::{ContainerInfo, Finding};
    use super::*;

    #[test]
    fn only_rules_on_the_runtimes_state_need_it() {
        let exe = AllowRule { exe: Some("/usr/bin/x".into()), ..AllowRule::default() };
        let id = AllowRule { container_id: Some("a".repeat(64)), ..AllowRule::default() };
        assert!(!needs_metadata(&[]));
        assert!(!needs_metadata(&[exe.clone(), id.clone()]));
        let image_id = AllowRule { image_id: Some("sha256:00".into()), ..id.clone() };
        let name = AllowRule { name: Some(Glob::new("web").unwrap()), ..AllowRule::default() };
        let label = AllowRule { label: Some(("a".into(), "b".into())), ..AllowRule::default() };
        let image = AllowRule { image: Some(Glob::new("x:1").unwrap()), ..AllowRule::default() };
        for r in [image_id, name, label, image] {
            assert!(needs_metadata(&[exe.clone(), r.clone()]), "{r:?}");
        }
    }

    #[test]
    fn globs() {
        let g = |p: &str, s: &str| Glob::new(p).unwrap().matches(s);
        assert!(g("portainer/portainer-ce:*", "portainer/portainer-ce:2.19.4"));
        assert!(!g("portainer/portainer-ce:*", "evil/portainer-ce:2"));
        assert!(g("traefik*", "traefik"));
        assert!(g("*", ""));
        assert!(g("a?c", "abc") && !g("a?c", "ac"));
        assert!(g("web-[0-9]", "web-7") && !g("web-[0-9]", "web-x"));
        assert!(g("[!x]y", "ay") && !g("[!x]y", "xy"));
        assert!(g("*a*b*c*", "xxaxxbxxcxx") && !g("*a*b*c*", "xxaxxcxxbxx"));
        assert!(!g("abc", "abcd") && !g("abcd", "abc"));
        assert!(g("[]]", "]"));
        assert!(Glob::new("a[").is_err() && Glob::new("[!").is_err() && Glob::new("[!]").is_err());
        assert!(g("[!]]x", "ax") && !g("[!]]x", "]x"));
        // Long inputs do not blow up.
        assert!(!g(&"*a".repeat(50), &"a".repeat(40)));
    }

    fn finding(name: &str, image: &str, labels: &[(&str, &str)], exe: &str, id: &str) -> Finding {
        let mut f = super::super::finding::tests::sample();
        f.container = ContainerInfo {
            id: Some(id.into()),
            runtime: "docker".into(),
            name: Some(name.into()),
            image: Some(image.into()),
            image_id: Some(format!("sha256:{}", "e".repeat(64))),
            metadata_truncated: false,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            pod: None,
            namespaces: None,
            attributed_by: Some("pid"),
            note: None,
        };
        f.process.exe = Some(exe.into());
        f.process.exe_hex = None;
        f
    }

    #[test]
    fn all_given_fields_must_match() {
        let id = "ab".repeat(32);
        let f = finding(
            "portainer",
            "portainer/portainer-ce:2.19",
            &[("role", "ui")],
            "/portainer",
            &id,
        );
        let rule = |image: Option<&str>,
                    name: Option<&str>,
                    label: Option<(&str, &str)>,
                    exe: Option<&str>,
                    cid: Option<&str>| AllowRule {
            image: image.map(|p| Glob::new(p).unwrap()),
            name: name.map(|p| Glob::new(p).unwrap()),
            label: label.map(|(k, v)| (k.into(), v.into())),
            exe: exe.map(Into::into),
            container_id: cid.map(Into::into),
            image_id: None,
        };
        assert!(rule(Some("portainer/*"), None, None, None, None).matches(&f));
        assert!(
            rule(
                Some("portainer/*"),
                Some("portainer"),
                Some(("role", "ui")),
                Some("/portainer"),
                Some(&id[..12])
            )
            .matches(&f)
        );
        assert!(
            !rule(Some("portainer/*"), Some("other"), None, None, None).matches(&f),
            "name differs"
        );
        assert!(!rule(None, None, Some(("role", "admin")), None, None).matches(&f));
        assert!(!rule(None, None, None, Some("/bin/sh"), None).matches(&f));
        assert!(!rule(None, None, None, None, Some("cdcdcdcdcdcd")).matches(&f));
        let mut unnamed = f;
        unnamed.container.name = None;
        assert!(
            !rule(None, Some("*"), None, None, None).matches(&unnamed),
            "a glob needs a value to match"
        );
        assert!(rule(None, None, None, None, None).is_empty());
    }

    /// The host marker is matched by no entry about containers; `exe` alone
    /// matches the host's program, and a container named "host" is a container.
    #[test]
    fn the_host_marker_is_no_container() {
        let mut host = finding("x", "x", &[], "/usr/bin/chmod", "x");
        host.container = super::super::finding::container_info(&super::super::origin::Origin::Host);
        let by_name =
            |p: &str| AllowRule { name: Some(Glob::new(p).unwrap()), ..AllowRule::default() };
        let by_exe = AllowRule { exe: Some("/usr/bin/chmod".into()), ..AllowRule::default() };
        #[rustfmt::skip]
        let rows: Vec<(&str, AllowRule, bool)> = vec![
            ("name *", by_name("*"), false),
            ("name host", by_name("host"), false),
            ("name h*, exe", AllowRule { exe: by_exe.exe.clone(), ..by_name("h*") }, false),
            ("image *", AllowRule { image: Some(Glob::new("*").unwrap()), ..AllowRule::default() }, false),
            ("exe alone", by_exe.clone(), true),
        ];
        for (name, rule, want) in rows {
            assert_eq!(rule.matches(&host), want, "{name}");
        }
        let container_named_host = finding("host", "x", &[], "/usr/bin/chmod", &"ab".repeat(32));
        assert!(by_name("host").matches(&container_named_host));
    }

    #[test]
    fn image_ids_pin_the_content_and_tags_do_not() {
        let f = finding("web", "trusted:1", &[], "/bin/sh", &"ab".repeat(32));
        let by_id = |id: &str| AllowRule { image_id: Some(id.into()), ..AllowRule::default() };
        assert!(by_id(&format!("sha256:{}", "e".repeat(64))).matches(&f));
        assert!(!by_id(&format!("sha256:{}", "f".repeat(64))).matches(&f));
        // The same tag on other content (`docker tag evil trusted:1`).
        let mut evil = f.clone();
        evil.container.image_id = Some(format!("sha256:{}", "0".repeat(64)));
        let tag =
            AllowRule { image: Some(Glob::new("trusted:*").unwrap()), ..AllowRule::default() };
        assert!(tag.matches(&evil), "a tag is anyone's to give");
        assert!(!by_id(&format!("sha256:{}", "e".repeat(64))).matches(&evil));
        // Unknown content never matches an image_id entry.
        evil.container.image_id = None;
        assert!(!by_id(&format!("sha256:{}", "e".repeat(64))).matches(&evil));
        // Which entries rest only on what a container's creator chooses.
        assert!(tag.only_mutable());
        assert!(!by_id("x").only_mutable());
        let cid = AllowRule { container_id: Some("ab".repeat(6)), ..AllowRule::default() };
        assert!(!cid.only_mutable());
        let exe = AllowRule { exe: Some("/usr/bin/portainer".into()), ..AllowRule::default() };
        assert!(exe.only_mutable(), "an executable's path inside a container is its own");
    }
}
