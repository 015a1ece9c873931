//! Outgoing wasi-http requests: the policy that decides which a component may make (the seam), and
//! today's policy, `allowed_outbound_hosts` as Spin spells them (`https://example.com`,
//! `http://localhost:3000`, `*://*.example.com:*`, `http://127.0.0.1:*`), templates included
//! (`https://{{ api_host }}`, `{{ notify_origin }}`): resolved from the application's variables at start-up,
//! an entry that resolves to nothing (empty, or a bare `http://` or `https://`) is left out, as Spin does. The
//! WIT glue is in `host`.

mod host;

use anyhow::{Result, bail};

pub use host::OutboundHooks;

/// Decides which outgoing requests a component may make.
pub trait OutboundPolicy: Send + Sync + std::fmt::Debug {
    /// Whether a request to `scheme://host:port` is allowed.
    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool;
}

/// One allowed `scheme://host[:port]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
    any_port: bool,
}

impl AllowedHost {
    /// Parses one entry; `*` is allowed for scheme, host (or a `*.` host prefix) and port.
    pub fn parse(entry: &str) -> Result<AllowedHost> {
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("`{entry}` is not of the form scheme://host[:port]");
        };
        let scheme = match scheme {
            "*" => None,
            "http" | "https" => Some(scheme.to_string()),
            other => bail!("`{entry}`: unsupported scheme `{other}`"),
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') || rest.contains("{{") {
            bail!("`{entry}` must name a host without a path or template");
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, "*")) => (host, None),
            Some((host, port)) => match port.parse::<u16>() {
                Ok(port) => (host, Some(port)),
                Err(_) => bail!("`{entry}`: invalid port `{port}`"),
            },
            None => (rest, None),
        };
        let any_port = rest.ends_with(":*") || (scheme.is_none() && port.is_none());
        Ok(AllowedHost { scheme, host: host.to_ascii_lowercase(), port, any_port })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = self.host == "*"
            || self.host == host
            || self.host.strip_prefix("*.").is_some_and(|suffix| host.ends_with(&format!(".{suffix}")));
        let default_port = if scheme == "https" { 443 } else { 80 };
        let port_ok = self.any_port || self.port.unwrap_or(default_port) == port;
        scheme_ok && host_ok && port_ok
    }
}

/// A component's whole allow-list (`allowed_outbound_hosts`).
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<AllowedHost>);

impl AllowedHosts {
    /// Resolves each entry's `{{ variable }}` references with `expand` and parses the result; an entry that
    /// resolves to nothing is left out. An error names the entry (and what it resolved to, if `show`
    /// allows: a secret's value stays out of it).
    pub fn resolve(
        entries: &[String],
        expand: impl Fn(&str) -> Result<String>,
        show: impl Fn(&str) -> bool,
    ) -> Result<AllowedHosts> {
        let mut allowed = Vec::new();
        for entry in entries {
            if !entry.contains("{{") {
                allowed.push(AllowedHost::parse(entry)?);
                continue;
            }
            let resolved = expand(entry)?;
            if matches!(resolved.trim(), "" | "http://" | "https://") {
                continue;
            }
            let parsed = AllowedHost::parse(resolved.trim()).map_err(|error| {
                if show(entry) {
                    anyhow::anyhow!("`{entry}`: {error}")
                } else {
                    anyhow::anyhow!("`{entry}`: its value is not of the form scheme://host[:port] (it is secret)")
                }
            })?;
            allowed.push(parsed);
        }
        Ok(AllowedHosts(allowed))
    }
}

impl OutboundPolicy for AllowedHosts {
    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.0.iter().any(|entry| entry.allows(scheme, host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_style_entries_allow_what_they_say() {
        let cases = [
            ("https://example.com", "https", "example.com", 443, true),
            ("https://example.com", "https", "example.com", 8443, false),
            ("https://example.com", "http", "example.com", 80, false),
            ("http://localhost:3000", "http", "localhost", 3000, true),
            ("http://127.0.0.1:*", "http", "127.0.0.1", 9, true),
            ("*://*.example.com:*", "https", "api.example.com", 1, true),
            ("*://*.example.com:*", "https", "example.com", 443, false),
            ("*://*:*", "http", "anything", 5, true),
            ("https://*", "https", "x.org", 443, true),
        ];
        for (entry, scheme, host, port, allowed) in cases {
            let policy = resolved(&[entry], &[]).unwrap();
            assert_eq!(policy.allows(scheme, host, port), allowed, "{entry} vs {scheme}://{host}:{port}");
        }
        assert!(!AllowedHosts::default().allows("https", "example.com", 443));
        for bad in ["example.com", "ftp://x", "https://x/path", "https://x:port", "https://{{ host }}"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }

    fn resolved(entries: &[&str], values: &[(&str, &str)]) -> Result<AllowedHosts> {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        let expand = |template: &str| {
            crate::manifest::expand_template(template, |name| {
                values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()).unwrap_or_default()
            })
        };
        AllowedHosts::resolve(&entries, expand, |entry| !entry.contains("secret"))
    }

    #[test]
    fn templates_resolve_from_the_variables_and_allow_only_what_they_resolve_to() {
        let hosts = resolved(
            &["https://{{ api_host }}", "{{ notify_origin }}", "http://localhost:3000"],
            &[("api_host", "api.example.com"), ("notify_origin", "http://hooks.example.net:8080")],
        )
        .unwrap();
        assert!(hosts.allows("https", "api.example.com", 443));
        assert!(hosts.allows("http", "hooks.example.net", 8080));
        assert!(hosts.allows("http", "localhost", 3000), "literal entries are kept");
        assert!(!hosts.allows("https", "example.com", 443));
        assert!(!hosts.allows("http", "hooks.example.net", 80), "only the resolved port");
        assert!(!hosts.allows("http", "api.example.com", 80), "only the resolved scheme");
        assert!(!hosts.allows("https", "evil.example.org", 443));
    }

    #[test]
    fn a_template_that_resolves_to_nothing_is_left_out() {
        for value in ["", "  "] {
            let hosts =
                resolved(&["{{ notify_origin }}", "https://{{ notify_origin }}"], &[("notify_origin", value)]).unwrap();
            assert!(!hosts.allows("https", "", 443) && !hosts.allows("http", "localhost", 80), "`{value}`");
            assert!(!hosts.allows("https", "anything.example", 443), "`{value}`");
        }
    }

    #[test]
    fn a_template_that_resolves_to_no_host_is_an_error_that_keeps_secrets() {
        let error = resolved(&["{{ notify_origin }}"], &[("notify_origin", "http://hooks.example.net/events")])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("`{{ notify_origin }}`: `http://hooks.example.net/events` "), "{error}");
        let error = resolved(&["https://{{ secret_host }}"], &[("secret_host", "hunter2/x")]).unwrap_err().to_string();
        assert!(error.contains("it is secret") && !error.contains("hunter2"), "{error}");
    }
}
