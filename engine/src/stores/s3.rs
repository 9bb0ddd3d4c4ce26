//! S3 settings from the standard AWS environment, with secrets that never print.

use std::fmt;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use crate::error::{EngineError, Result};

/// `AWS_ACCESS_KEY_ID`
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// `AWS_SECRET_ACCESS_KEY`
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// `AWS_SESSION_TOKEN`
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// `AWS_REGION`, falling back to `AWS_DEFAULT_REGION`.
pub const AWS_REGION: &str = "AWS_REGION";
/// `AWS_DEFAULT_REGION`
pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// `AWS_ENDPOINT_URL`, for S3-compatible stores (MinIO, Ceph, R2, a local test server).
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// `AWS_ALLOW_HTTP`: `true` permits a plain-HTTP endpoint.
pub const AWS_ALLOW_HTTP: &str = "AWS_ALLOW_HTTP";
/// `SLUICE_S3_MAX_RETRIES`: retries per request on 5xx, throttling and dropped connections.
pub const SLUICE_S3_MAX_RETRIES: &str = "SLUICE_S3_MAX_RETRIES";
/// `SLUICE_S3_RETRY_TIMEOUT_SECS`: give up retrying a request after this many seconds.
pub const SLUICE_S3_RETRY_TIMEOUT_SECS: &str = "SLUICE_S3_RETRY_TIMEOUT_SECS";
/// `SLUICE_S3_TIMEOUT_SECS`: one request (and its response) may take this long before it is
/// abandoned and retried; a stalled connection costs at most this.
pub const SLUICE_S3_TIMEOUT_SECS: &str = "SLUICE_S3_TIMEOUT_SECS";

/// A credential that shows as `***` in `Debug` and `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for handing to the store builder only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How sluice talks to S3 and S3-compatible stores.
///
/// Built from the AWS environment with [`S3Options::from_env`]; missing keys fall back to the
/// instance or container credentials object_store finds itself.
#[derive(Debug, Clone)]
pub struct S3Options {
    access_key_id: Option<Secret>,
    secret_access_key: Option<Secret>,
    session_token: Option<Secret>,
    region: Option<String>,
    endpoint: Option<String>,
    allow_http: bool,
    max_retries: usize,
    retry_timeout: Duration,
    request_timeout: Duration,
}

impl Default for S3Options {
    fn default() -> Self {
        Self {
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            region: None,
            endpoint: None,
            allow_http: false,
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            request_timeout: Duration::from_secs(300),
        }
    }
}

impl S3Options {
    /// Reads the standard AWS variables plus sluice's retry settings.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`S3Options::from_env`] with a custom variable lookup (used by tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let defaults = Self::default();
        let max_retries = match get(SLUICE_S3_MAX_RETRIES) {
            Some(v) => parse_env_number(SLUICE_S3_MAX_RETRIES, &v)?,
            None => defaults.max_retries,
        };
        let retry_timeout = match get(SLUICE_S3_RETRY_TIMEOUT_SECS) {
            Some(v) => Duration::from_secs(parse_env_number(SLUICE_S3_RETRY_TIMEOUT_SECS, &v)? as u64),
            None => defaults.retry_timeout,
        };
        let request_timeout = match get(SLUICE_S3_TIMEOUT_SECS) {
            Some(v) => Duration::from_secs(parse_env_number(SLUICE_S3_TIMEOUT_SECS, &v)?.max(1) as u64),
            None => defaults.request_timeout,
        };
        Ok(Self {
            access_key_id: get(AWS_ACCESS_KEY_ID).map(Secret),
            secret_access_key: get(AWS_SECRET_ACCESS_KEY).map(Secret),
            session_token: get(AWS_SESSION_TOKEN).map(Secret),
            region: get(AWS_REGION).or_else(|| get(AWS_DEFAULT_REGION)),
            endpoint: get(AWS_ENDPOINT_URL),
            allow_http: get(AWS_ALLOW_HTTP)
                .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes")),
            max_retries,
            retry_timeout,
            request_timeout,
        })
    }

    /// Sets the region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets a custom endpoint such as `http://127.0.0.1:9000`.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Permits plain HTTP.
    pub fn with_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Sets static credentials.
    pub fn with_credentials(mut self, key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.access_key_id = Some(Secret::new(key_id));
        self.secret_access_key = Some(Secret::new(secret));
        self
    }

    /// Sets how often and how long a failing request is retried.
    pub fn with_retries(mut self, max_retries: usize, timeout: Duration) -> Self {
        self.max_retries = max_retries;
        self.retry_timeout = timeout;
        self
    }

    /// The configured endpoint, if any (contains no secret).
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Builds a store for one bucket.
    pub fn build(&self, bucket: &str) -> Result<AmazonS3> {
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(15),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(self.region.as_deref().unwrap_or("us-east-1"))
            .with_allow_http(self.allow_http)
            .with_retry(retry)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(self.allow_http)
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(self.request_timeout),
            );
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = &self.access_key_id {
            builder = builder.with_access_key_id(key.expose());
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token.expose());
        }
        builder.build().map_err(|source| EngineError::Store {
            location: format!("s3://{bucket}/"),
            source,
        })
    }
}

fn parse_env_number(name: &str, value: &str) -> Result<usize> {
    value.trim().parse().map_err(|_| EngineError::InvalidOption {
        option: name.to_string(),
        reason: format!("`{value}` is not a whole number"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let opts = S3Options::from_lookup(|k| match k {
            AWS_ACCESS_KEY_ID => Some("AKIAEXAMPLEKEY".into()),
            AWS_SECRET_ACCESS_KEY => Some("very-secret-value".into()),
            AWS_SESSION_TOKEN => Some("token-value".into()),
            AWS_ENDPOINT_URL => Some("http://127.0.0.1:9000".into()),
            AWS_ALLOW_HTTP => Some("true".into()),
            _ => None,
        })
        .unwrap();
        let shown = format!("{opts:?}");
        assert!(!shown.contains("AKIAEXAMPLEKEY"), "{shown}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(!shown.contains("token-value"), "{shown}");
        assert!(shown.contains("127.0.0.1:9000"));
        assert!(opts.allow_http);
    }

    #[test]
    fn region_falls_back_to_default_region() {
        let opts = S3Options::from_lookup(|k| (k == AWS_DEFAULT_REGION).then(|| "eu-west-1".into())).unwrap();
        assert_eq!(opts.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn bad_retry_setting_names_the_variable() {
        let err =
            S3Options::from_lookup(|k| (k == SLUICE_S3_MAX_RETRIES).then(|| "many".into())).unwrap_err();
        assert!(err.to_string().contains(SLUICE_S3_MAX_RETRIES), "{err}");
    }
}
