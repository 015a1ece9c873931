//! Outgoing wasi-http requests: the policy that decides which a component may make (the seam), and
//! today's policy, `allowed_outbound_hosts` as Spin spells them (`https://example.com`,
//! `http://localhost:3000`, `*://*.example.com:*`, `http://127.0.0.1:*`). The WIT glue is in `host`.

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
    /// Parses every entry; the first bad one is the error.
    pub fn parse(entries: &[String]) -> Result<AllowedHosts> {
        entries.iter().map(|e| AllowedHost::parse(e)).collect::<Result<_>>().map(AllowedHosts)
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
            let policy = AllowedHosts::parse(&[entry.to_string()]).unwrap();
            assert_eq!(policy.allows(scheme, host, port), allowed, "{entry} vs {scheme}://{host}:{port}");
        }
        assert!(!AllowedHosts::default().allows("https", "example.com", 443));
        for bad in ["example.com", "ftp://x", "https://x/path", "https://x:port", "https://{{ host }}"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }
}
