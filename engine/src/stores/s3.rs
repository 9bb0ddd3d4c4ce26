//! S3 settings from the standard AWS environment, with secrets that never print.
//!
//! Static keys in the environment (or given in code) sign requests directly. Without them the AWS
//! SDK's default chain finds credentials as the AWS CLI does: a profile, SSO, a web identity token
//! (EKS), the container endpoint (ECS, Fargate, AWS Batch) or the instance role
//! ([`credentials`](super::credentials)). The region comes from `AWS_REGION`, `AWS_DEFAULT_REGION`
//! or the profile. Every other `AWS_*` setting object_store knows (server-side encryption,
//! virtual-hosted requests, requester pays, ...) is passed through.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_config::meta::region::ProvideRegion;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsCredentialProvider};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use super::credentials::SdkCredentials;
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
/// `AWS_ENDPOINT_URL_S3`: the S3 endpoint alone, ahead of `AWS_ENDPOINT_URL`.
pub const AWS_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
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
/// Built from the AWS environment with [`S3Options::from_env`]; without static keys the AWS SDK's
/// default credential chain is asked, once per session and again before the keys expire.
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
    /// Other object_store settings from `AWS_*` variables, values hidden from `Debug`.
    passthrough: Vec<(AmazonS3ConfigKey, Secret)>,
    /// The SDK chain shared by every bucket's store.
    chain: Arc<SdkCredentials>,
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
            passthrough: Vec::new(),
            chain: Arc::default(),
        }
    }
}

impl S3Options {
    /// Reads the standard AWS variables plus sluice's retry settings; the region falls back to
    /// the profile's (`AWS_PROFILE`, `~/.aws/config`).
    pub fn from_env() -> Result<Self> {
        let mut options = Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))?;
        if options.region.is_none() {
            options.region = profile_region();
        }
        options.passthrough = std::env::vars()
            .filter_map(|(name, value)| Some((passthrough_key(&name)?, Secret(value))))
            .collect();
        Ok(options)
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
            endpoint: get(AWS_ENDPOINT_URL_S3).or_else(|| get(AWS_ENDPOINT_URL)),
            allow_http: get(AWS_ALLOW_HTTP)
                .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes")),
            max_retries,
            retry_timeout,
            request_timeout,
            ..defaults
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

    /// Where the credentials come from: `environment` for static keys, else the name of the SDK
    /// provider that answered (`EcsContainer`, `WebIdentityToken`, `ProfileFile`, `IMDSv2`, ...).
    /// Never the keys themselves.
    pub async fn credential_source(&self) -> Result<String> {
        if self.access_key_id.is_some() {
            return Ok("environment".into());
        }
        let (_, source) = self.chain.resolve().await.map_err(|e| EngineError::Store {
            location: "AWS credentials".into(),
            source: object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            },
        })?;
        Ok(source)
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
        // A user's own `AWS_*` setting (a proxy, SSE-KMS, a timeout) wins over sluice's defaults.
        for (key, value) in &self.passthrough {
            builder = builder.with_config(*key, value.expose());
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(key), Some(secret)) => {
                builder = builder
                    .with_access_key_id(key.expose())
                    .with_secret_access_key(secret.expose());
                if let Some(token) = &self.session_token {
                    builder = builder.with_token(token.expose());
                }
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(EngineError::InvalidOption {
                    option: format!("{AWS_ACCESS_KEY_ID} and {AWS_SECRET_ACCESS_KEY}"),
                    reason: "only one of the pair is set; set both, or neither to use a profile or role"
                        .into(),
                });
            }
            (None, None) => {
                let chain: AwsCredentialProvider = Arc::clone(&self.chain) as _;
                builder = builder.with_credentials(chain);
            }
        }
        builder.build().map_err(|source| EngineError::Store {
            location: format!("s3://{bucket}/"),
            source,
        })
    }
}

/// The object_store setting an `AWS_*` variable names, unless sluice sets it itself (keys, region,
/// endpoint, plain HTTP). Credential-source variables may pass: an explicit provider outranks them.
fn passthrough_key(name: &str) -> Option<AmazonS3ConfigKey> {
    const OWNED: &[&str] = &[
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_token",
        "aws_region",
        "aws_default_region",
        "aws_endpoint",
        "aws_endpoint_url",
        "aws_endpoint_url_s3",
        "aws_allow_http",
        "aws_bucket",
        "aws_bucket_name",
    ];
    let lower = name.to_ascii_lowercase();
    if !lower.starts_with("aws_") || OWNED.contains(&lower.as_str()) {
        return None;
    }
    lower.parse().ok()
}

/// The region of the selected profile, read from the profile files alone (no network).
fn profile_region() -> Option<String> {
    let provider = aws_config::profile::ProfileFileRegionProvider::new();
    // The profile files are read with blocking I/O inside the future, so no runtime is needed.
    futures::executor::block_on(provider.region()).map(|r| r.to_string())
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
    fn other_aws_settings_pass_through_and_sluices_own_do_not() {
        assert!(passthrough_key("AWS_SSE_KMS_KEY_ID").is_some());
        assert!(passthrough_key("AWS_REQUEST_PAYER").is_some());
        assert!(passthrough_key("AWS_ACCESS_KEY_ID").is_none());
        assert!(passthrough_key("AWS_ENDPOINT_URL").is_none());
        assert!(passthrough_key("AWS_NOT_A_SETTING").is_none());
        assert!(passthrough_key("HOME").is_none());
    }

    #[test]
    fn half_a_key_pair_is_refused() {
        let opts = S3Options::from_lookup(|k| (k == AWS_ACCESS_KEY_ID).then(|| "AKIAONLY".into())).unwrap();
        let err = opts.build("bucket").unwrap_err();
        assert!(err.to_string().contains(AWS_SECRET_ACCESS_KEY), "{err}");
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
